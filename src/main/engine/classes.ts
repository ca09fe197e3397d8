/**
 * A model's classes: parsing the ImageNet synsets file (`wnid name, synonym, …` per line, in output
 * order) and mapping a user's label to a class by wnid or by any of its names.
 */
import type { ModelClass } from './types.ts'

/**
 * Parses a synsets/labels file into classes, one per non-empty line, indexed in file order.
 * A line `n01440764 tench, Tinca tinca` gives id `n01440764` and names `['tench', 'Tinca tinca']`.
 * A line without a wnid-like first word (a plain labels file: `tench`) uses the whole line as the
 * name and its index as the id.
 */
export function parseClasses(text: string): ModelClass[] {
  const classes: ModelClass[] = []
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (!line) continue
    const index = classes.length
    const m = /^([a-z]\d{8})\s+(.*)$/i.exec(line)
    if (m) {
      const names = splitNames(m[2]!)
      classes.push({ index, id: m[1]!, names })
    } else {
      classes.push({ index, id: String(index), names: splitNames(line) })
    }
  }
  return classes
}

function splitNames(text: string): string[] {
  return text
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n.length > 0)
}

/** Numbered classes `class-0 … class-(n-1)` for a model without a classes file. */
export function numberedClasses(count: number): ModelClass[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    id: `class-${index}`,
    names: [`class-${index}`],
  }))
}

const lookupCache = new WeakMap<ModelClass[], Map<string, ModelClass>>()

function normalise(label: string): string {
  return label.trim().toLowerCase().replace(/\s+/g, ' ')
}

function lookupTable(classes: ModelClass[]): Map<string, ModelClass> {
  let table = lookupCache.get(classes)
  if (table) return table
  table = new Map()
  // Ids first, then names in class order: a name shared by two synsets (ImageNet has 'crane' twice)
  // resolves to the first class that has it, and never shadows an id.
  for (const c of classes) table.set(normalise(c.id), c)
  for (const c of classes) {
    for (const name of c.names) {
      const key = normalise(name)
      if (!table.has(key)) table.set(key, c)
    }
  }
  lookupCache.set(classes, table)
  return table
}

/**
 * The model class a user's label means: by id (wnid) or by any of the class's comma-separated names,
 * case-insensitive, surrounding spaces ignored; underscores count as spaces (`golden_retriever`).
 * Undefined when the model does not know the label.
 */
export function resolveLabel(label: string, classes: ModelClass[]): ModelClass | undefined {
  const table = lookupTable(classes)
  const key = normalise(label)
  if (!key) return undefined
  return table.get(key) ?? table.get(key.replace(/_/g, ' '))
}
