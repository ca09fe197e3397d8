import { describe, expect, test } from 'vitest'
import { parseClasses } from '../../src/main/engine/classes.ts'
import { parseMapping, resolveLabelSources } from '../../src/main/engine/labels.ts'
import type { LearnedHead } from '../../src/main/engine/head.ts'
import { planLabels, sourceKey, sourcesByKind } from '../../src/main/project/labelPlan.ts'

const classes = parseClasses(
  [
    'n01440764 tench, Tinca tinca',
    'n02110958 pug, pug-dog',
    'n02123045 tabby, tabby cat',
    'n02099601 golden retriever',
  ].join('\n'),
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
    expect(sources.get('n02123045')).toEqual({ kind: 'model', classIndices: [2] })
    expect(sources.get('Pug')).toEqual({ kind: 'model', classIndices: [1] })
    expect(sources.get('kangaroo')?.kind).toBe('learned')
    expect(sources.get('defect')).toEqual({ kind: 'agnostic' })
    expect(sourcesByKind({ sources, keys: new Map(), needHead: [], negatives: [] })).toEqual({
      model: ['n02123045', 'Pug'],
      learned: ['kangaroo'],
      agnostic: ['defect'],
    })
  })

  test('learn ignores model classes; model ignores learned heads; agnostic uses neither', () => {
    const pugHead = new Map([['pug', learned.get('kangaroo')!]])
    expect(resolveLabelSources(['pug'], classes, 'learn', pugHead).get('pug')?.kind).toBe('learned')
    expect(resolveLabelSources(['kangaroo'], classes, 'model', learned).get('kangaroo')).toEqual({
      kind: 'agnostic',
    })
    expect(resolveLabelSources(['pug'], classes, 'agnostic').get('pug')).toEqual({
      kind: 'agnostic',
    })
  })

  test('a mapping overrides the mode: several model classes, learn, or agnostic', () => {
    const mappings = new Map([
      parseMapping('dog=pug + golden_retriever'),
      parseMapping('fish=#0'),
      parseMapping('pets=#1-3'),
      parseMapping('kangaroo=agnostic'),
      parseMapping('Pug=learn'),
    ])
    const sources = resolveLabelSources(
      ['dog', 'fish', 'pets', 'kangaroo', 'Pug'],
      classes,
      'model',
      learned,
      mappings,
    )
    expect(sources.get('dog')).toEqual({ kind: 'model', classIndices: [1, 3] })
    expect(sources.get('fish')).toEqual({ kind: 'model', classIndices: [0] })
    expect(sources.get('pets')).toEqual({ kind: 'model', classIndices: [1, 2, 3] })
    expect(sources.get('kangaroo')).toEqual({ kind: 'agnostic' })
    // Mapped to learn but nothing learned for it: the agnostic CAM, never a silent model class.
    expect(sources.get('Pug')).toEqual({ kind: 'agnostic' })
  })

  test('a mapping naming something the model does not have is refused with the name', () => {
    expect(() =>
      resolveLabelSources(['dog'], classes, 'auto', new Map(), new Map([parseMapping('dog=wolf')])),
    ).toThrow(/'wolf'/)
    expect(() =>
      resolveLabelSources(['x'], classes, 'auto', new Map(), new Map([parseMapping('x=#2-9')])),
    ).toThrow(/#0-3/)
    expect(() => parseMapping('dog')).toThrow(/LABEL=CLASS/)
    expect(parseMapping('dog=n02110958,n02099601')).toEqual(['dog', ['n02110958', 'n02099601']])
  })
})

describe('the label planner', () => {
  const head = (names: string[], usable = true): LearnedHead & { fingerprint: string } => ({
    version: 1,
    mode: 'softmax',
    lambda: 0.01,
    numFeatures: 2,
    iterations: 1,
    converged: true,
    fingerprint: 'sha1:0123456789abcdef0123',
    classes: names.map((name) => ({
      name,
      background: name === 'background',
      weights: new Float32Array([1, 2]),
      bias: 0,
      images: 5,
    })),
    quality: { images: 10, folds: 5, cvAccuracy: 0.9, classes: [], warnings: [], usable },
  })

  test('background is a negative, never proposed; labels the model lacks wait for a head', () => {
    const plan = planLabels(['Pug', 'kangaroo', 'background', 'kangaroo'], {
      classes,
      mode: 'auto',
      mappings: new Map(),
    })
    expect([...plan.sources.keys()]).toEqual(['Pug', 'kangaroo'])
    expect(plan.negatives).toEqual(['background'])
    expect(plan.needHead).toEqual(['kangaroo'])
    // until a head is trained, the agnostic CAM
    expect(plan.sources.get('kangaroo')).toEqual({ kind: 'agnostic' })
    expect(plan.keys.get('Pug')).toBe('model:1')
    expect(plan.keys.get('kangaroo')).toBe('agnostic')
  })

  test('with a trained head the learned labels use it, keyed by the head that made them', () => {
    const plan = planLabels(['Pug', 'kangaroo', 'background'], {
      classes,
      mode: 'auto',
      mappings: new Map(),
      head: head(['kangaroo', 'background']),
    })
    expect(plan.sources.get('kangaroo')?.kind).toBe('learned')
    expect(plan.sources.has('background')).toBe(false)
    expect(plan.keys.get('kangaroo')).toBe('learned:0123456789abcdef')
    // an unusable head (nothing to tell apart) leaves the agnostic CAM
    const unusable = planLabels(['kangaroo'], {
      classes,
      mode: 'auto',
      mappings: new Map(),
      head: head(['kangaroo'], false),
    })
    expect(unusable.sources.get('kangaroo')).toEqual({ kind: 'agnostic' })
  })

  test('a mapping onto model classes needs no head; mode model learns nothing', () => {
    const mapped = planLabels(['kangaroo'], {
      classes,
      mode: 'auto',
      mappings: new Map([parseMapping('kangaroo=#1-2')]) as Map<string, string[]>,
    })
    expect(mapped.needHead).toEqual([])
    expect(mapped.keys.get('kangaroo')).toBe(sourceKey({ kind: 'model', classIndices: [2, 1] }))
    expect(
      planLabels(['kangaroo'], { classes, mode: 'model', mappings: new Map() }).needHead,
    ).toEqual([])
  })
})
