/**
 * Reading JSON files users give (COCO): a clear error that says where the file is broken — line
 * and column found by our own scan, since V8's messages give no position for many errors and quote
 * the file's content — and that never quotes the file. A UTF-8 byte-order mark is accepted;
 * nesting deeper than MAX_DEPTH is refused before it can exhaust the stack.
 */
import { CamlabelError } from '../../shared/errors.ts'

/** Deeper nesting than any annotation file has; refused rather than parsed. */
export const MAX_DEPTH = 512

/** Line and column (1-based) of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1
  let last = -1
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      last = i
    }
  }
  return { line, column: offset - last }
}

/** Where the first syntax error of `text` is, and what it is; undefined for valid JSON. */
export function jsonError(text: string): { offset: number; reason: string } | undefined {
  let i = 0
  const n = text.length
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === 32 || c === 9 || c === 10 || c === 13) i++
      else break
    }
  }
  const fail = (reason: string) => ({ offset: i, reason })
  // A stack of open containers: '{' or '['; `expect` says what may come next.
  const stack: string[] = []
  type Expect =
    'value' | 'key' | 'colon' | 'comma-or-end' | 'first-key-or-end' | 'first-value-or-end'
  let expect: Expect = 'value'
  for (;;) {
    ws()
    if (i >= n) {
      if (stack.length === 0 && expect === 'comma-or-end') return undefined
      return fail('the file ends before the JSON does (it may be truncated)')
    }
    const ch = text[i]!
    if (stack.length === 0 && expect === 'comma-or-end')
      return fail(`unexpected ${describe(ch)} after the end of the JSON`)
    if (expect === 'colon') {
      if (ch !== ':') return fail(`expected ':' but found ${describe(ch)}`)
      i++
      expect = 'value'
      continue
    }
    if (expect === 'comma-or-end') {
      const top = stack[stack.length - 1]!
      if (ch === ',') {
        i++
        expect = top === '{' ? 'key' : 'value'
      } else if ((ch === '}' && top === '{') || (ch === ']' && top === '[')) {
        i++
        stack.pop()
        expect = 'comma-or-end'
      } else return fail(`expected ',' or '${top === '{' ? '}' : ']'}' but found ${describe(ch)}`)
      continue
    }
    if (expect === 'key' || expect === 'first-key-or-end') {
      if (expect === 'first-key-or-end' && ch === '}') {
        i++
        stack.pop()
        expect = 'comma-or-end'
        continue
      }
      if (ch !== '"') return fail(`expected a "quoted" key but found ${describe(ch)}`)
      const err = string()
      if (err) return err
      expect = 'colon'
      continue
    }
    // a value
    if (expect === 'first-value-or-end' && ch === ']') {
      i++
      stack.pop()
      expect = 'comma-or-end'
      continue
    }
    if (ch === '{' || ch === '[') {
      if (stack.length >= MAX_DEPTH)
        return fail(`arrays and objects nest more than ${MAX_DEPTH} deep`)
      stack.push(ch)
      i++
      expect = ch === '{' ? 'first-key-or-end' : 'first-value-or-end'
      continue
    }
    if (ch === '"') {
      const err = string()
      if (err) return err
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
      if (!m) return fail('a malformed number')
      i += m[0].length
    } else {
      const word = /^(true|false|null)/.exec(text.slice(i, i + 5))
      if (!word)
        return fail(
          `unexpected ${describe(ch)} where a value belongs (NaN, Infinity and comments are not JSON)`,
        )
      i += word[0].length
    }
    expect = 'comma-or-end'
  }

  function string(): { offset: number; reason: string } | undefined {
    const start = i
    i++
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === 34) {
        i++
        return undefined
      }
      if (c === 92) {
        const e = text[i + 1]
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6)))
            return fail('a malformed \\u escape')
          i += 6
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2
        else return fail('a malformed escape in a string')
        continue
      }
      if (c < 32) return fail('a control character (a raw line break?) inside a string')
      i++
    }
    i = start
    return fail('a string that never ends (the file may be truncated)')
  }
}

function describe(ch: string): string {
  const code = ch.codePointAt(0)!
  return code < 32 || code === 127 ? `character U+${code.toString(16).padStart(4, '0')}` : `'${ch}'`
}

/**
 * Parses JSON text from a file the user gave.
 * @throws CamlabelError PARSE_ERROR naming `source`, the line and column, and what is wrong there
 */
export function parseJsonFile(text: string, source: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  // The scan runs first (linear, iterative) so that over-deep nesting never reaches JSON.parse's
  // recursion; JSON.parse then does the reading.
  let found = jsonError(body)
  if (!found) {
    try {
      return JSON.parse(body)
    } catch {
      found = { offset: body.length, reason: 'it could not be read' }
    }
  }
  const pos = lineColumn(body, found.offset)
  const truncated = found.offset >= body.trimEnd().length || found.reason.includes('truncated')
  throw new CamlabelError(
    'PARSE_ERROR',
    `${source} is not valid JSON at line ${pos.line}, column ${pos.column}: ${found.reason}`,
    truncated
      ? 'The file ends too early; export it again from its tool.'
      : 'Fix the file at that place, or export it again from its tool.',
  )
}
