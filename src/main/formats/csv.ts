/**
 * A small RFC 4180 CSV parser: quoted fields with "" escapes and embedded newlines, CRLF or LF,
 * a leading UTF-8 BOM ignored. Each record carries the 1-based line it starts on, so problems can
 * name the line a user sees in their editor.
 */

/** One parsed record and the line it starts on. */
export interface CsvRecord {
  line: number
  fields: string[]
}

/** Parses CSV text into records; blank lines are skipped. Never throws: an unclosed quote runs to the end. */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = []
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  let line = 1
  let fields: string[] = []
  let field = ''
  let recordLine = 1
  let inQuotes = false
  let quoted = false
  const endRecord = () => {
    fields.push(field)
    if (!(fields.length === 1 && fields[0] === '' && !quoted))
      records.push({ line: recordLine, fields })
    fields = []
    field = ''
    quoted = false
  }
  for (; i < text.length; i++) {
    const c = text[i]
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"'
          i++
        } else inQuotes = false
      } else {
        if (c === '\n') line++
        field += c
      }
      continue
    }
    if (c === '"' && field === '') {
      inQuotes = true
      quoted = true
    } else if (c === ',') {
      fields.push(field)
      field = ''
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++
      endRecord()
      line++
      recordLine = line
    } else field += c
  }
  if (field !== '' || fields.length > 0 || quoted) endRecord()
  return records
}
