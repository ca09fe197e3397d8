import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { numberedClasses, parseClasses, resolveLabel } from '../../src/main/engine/classes.ts'

const synsetsFile = path.resolve(import.meta.dirname, '../../../shared/models/imagenet-synsets.txt')

const sample = [
  'n01440764 tench, Tinca tinca',
  'n02012849 crane',
  'n02099601 golden retriever',
  'n03126707 crane',
  'n03710721 maillot, tank suit',
  '',
].join('\r\n')

describe('parseClasses', () => {
  it('reads wnid and comma-separated names per line, in order, ignoring blank lines and CRLF', () => {
    const classes = parseClasses(sample)
    expect(classes).toHaveLength(5)
    expect(classes[0]).toEqual({ index: 0, id: 'n01440764', names: ['tench', 'Tinca tinca'] })
    expect(classes[4]).toEqual({ index: 4, id: 'n03710721', names: ['maillot', 'tank suit'] })
  })

  it('takes a plain labels file (no wnids) with the index as id', () => {
    expect(parseClasses('cat\ndog, puppy\n')).toEqual([
      { index: 0, id: '0', names: ['cat'] },
      { index: 1, id: '1', names: ['dog', 'puppy'] },
    ])
  })

  it('numbers classes when there is no file', () => {
    expect(numberedClasses(2).map((c) => c.id)).toEqual(['class-0', 'class-1'])
  })

  it('parses the real ImageNet synsets: 1000 classes in output order', () => {
    if (!existsSync(synsetsFile))
      throw new Error(`Missing ${synsetsFile} (see ../shared/models/README.md)`)
    const classes = parseClasses(readFileSync(synsetsFile, 'utf8'))
    expect(classes).toHaveLength(1000)
    expect(classes[207]).toMatchObject({ id: 'n02099601', names: ['golden retriever'] })
    expect(resolveLabel('Golden Retriever', classes)?.index).toBe(207)
  })
})

describe('resolveLabel', () => {
  const classes = parseClasses(sample)

  it('by wnid, case-insensitive and trimmed', () => {
    expect(resolveLabel('n02099601', classes)?.index).toBe(2)
    expect(resolveLabel('  N02099601 ', classes)?.index).toBe(2)
  })

  it('by the first name or any synonym, case-insensitive', () => {
    expect(resolveLabel('tench', classes)?.index).toBe(0)
    expect(resolveLabel('TINCA TINCA', classes)?.index).toBe(0)
    expect(resolveLabel(' tank suit ', classes)?.index).toBe(4)
    expect(resolveLabel('golden_retriever', classes)?.index).toBe(2)
  })

  it('a name two classes share goes to the first; the wnid picks the other', () => {
    expect(resolveLabel('crane', classes)?.index).toBe(1)
    expect(resolveLabel('n03126707', classes)?.index).toBe(3)
  })

  it('unknown or empty labels resolve to nothing', () => {
    expect(resolveLabel('raccoon', classes)).toBeUndefined()
    expect(resolveLabel('  ', classes)).toBeUndefined()
    expect(resolveLabel('tench, Tinca tinca', classes)).toBeUndefined()
  })
})
