import { describe, expect, test } from 'vitest'
import { parseClasses } from '../../src/main/engine/classes.ts'
import { resolveLabelSources, summariseSources } from '../../src/main/engine/labels.ts'

const classes = parseClasses(
  ['n01440764 tench, Tinca tinca', 'n02110958 pug, pug-dog', 'n02123045 tabby, tabby cat'].join(
    '\n',
  ),
)
const learned = new Map([['kangaroo', { weights: new Float32Array([1, 2]), bias: 0.5 }]])

describe('resolveLabelSources', () => {
  test('auto: model classes by wnid or name, learned heads next, agnostic for the rest', () => {
    const sources = resolveLabelSources(
      ['n02123045', 'Pug', 'kangaroo', 'defect'],
      classes,
      'auto',
      learned,
    )
    expect(sources.get('n02123045')).toEqual({ kind: 'model', classIndex: 2 })
    expect(sources.get('Pug')).toEqual({ kind: 'model', classIndex: 1 })
    expect(sources.get('kangaroo')?.kind).toBe('learned')
    expect(sources.get('defect')).toEqual({ kind: 'agnostic' })
    expect(summariseSources(sources)).toEqual({
      model: ['n02123045', 'Pug'],
      learned: ['kangaroo'],
      agnostic: ['defect'],
    })
  })

  test('learn ignores model classes; model ignores learned heads; agnostic uses neither', () => {
    expect(
      resolveLabelSources(
        ['pug'],
        classes,
        'learn',
        new Map([['pug', learned.get('kangaroo')!]]),
      ).get('pug')?.kind,
    ).toBe('learned')
    expect(resolveLabelSources(['kangaroo'], classes, 'model', learned).get('kangaroo')).toEqual({
      kind: 'agnostic',
    })
    expect(resolveLabelSources(['pug'], classes, 'agnostic').get('pug')).toEqual({
      kind: 'agnostic',
    })
  })
})
