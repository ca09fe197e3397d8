/**
 * Learned CAM heads in projects (issue 5), through the command as a user runs it: real SqueezeNet
 * (CPU), real SQLite, the shared photos. imagenet-val-dev with labels-coarse.csv has 10 classes the
 * model does not know: `propose PROJECT` learns a head from the image labels and its proposals
 * are scored against ground-truth-coarse.coco.json; a second run reuses the cached features and
 * the stored head; --map is saved and used; `learn` prints the quality table, or the one-class
 * warning on a raccoon-only project; an interrupted feature pass resumes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { boxAccuracy, casesFromCoco } from '../../src/main/eval/boxAccuracy.ts'
import { describeLabels } from '../../src/main/project/labelPlan.ts'
import { extractProjectFeatures } from '../../src/main/project/learnProject.ts'
import { proposeProject } from '../../src/main/project/proposeProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { runCamlabel } from '../helpers/cli.ts'
import { accept } from '../helpers/review.ts'
import { shared } from '../helpers/shared.ts'

const imagenet = shared('data/imagenet-val-dev')
const raccoon = shared('data/raccoon')
const MODEL = 'squeezenet1.1-fp16'
const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-learn-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** Runs the command in `tmp`; returns its exit code with what it printed. */
const camlabel = (...args: string[]) => runCamlabel(args, tmp)

const init = async (name: string, images: string, labels: string) =>
  expect((await camlabel('init', name, '--images', images, '--labels', labels)).code).toBe(0)

const cpu = ['--model', MODEL, '--provider', 'cpu']

describe('propose PROJECT with labels the model does not know', () => {
  const file = path.join(tmp, 'coarse.camlabel')

  it('learns a head, proposes with it (≥ 60% GT-known box accuracy @0.5), then reuses it', async () => {
    await init('coarse.camlabel', imagenet, path.join(imagenet, 'labels-coarse.csv'))
    const first = await camlabel('propose', file, ...cpu)
    expect(first.code).toBe(0)
    expect(first.err).toMatch(/learned CAM head for: .*bird/)
    expect(first.err).toMatch(/features: 300 extracted, 0 failed, 0 cached before/)
    expect(first.err).toMatch(/softmax regression.*114 images, 5-fold CV accuracy/)
    expect(first.err).toMatch(/114 images processed \(0 failed\)/)

    const out = path.join(tmp, 'coarse.json')
    expect(
      (await camlabel('export', file, '--format', 'coco', '--out', out, '--with-proposals')).code,
    ).toBe(0)
    const truth = JSON.parse(
      readFileSync(path.join(imagenet, 'ground-truth-coarse.coco.json'), 'utf8'),
    )
    const cases = casesFromCoco(truth, JSON.parse(readFileSync(out, 'utf8')))
    expect(cases).toHaveLength(114)
    const accuracy = boxAccuracy(cases, 0.5)
    console.log(
      `learned head in a project: GT-known box accuracy @0.5 ${(100 * accuracy).toFixed(1)}%`,
    )
    expect(accuracy).toBeGreaterThanOrEqual(0.6)

    // Again: no feature pass, no training, no inference (no model was even loaded).
    const second = await camlabel('propose', file, ...cpu)
    expect(second.err).toMatch(/features: all 300 images cached \(no feature pass\)/)
    expect(second.err).toMatch(/using the stored head/)
    expect(second.err).not.toMatch(/model squeezenet1.1-fp16 on/)
    expect(second.err).toMatch(/0 images processed .* 114 already done/)
    const store = ProjectStore.open(file)
    const r = await proposeProject(store, { model: MODEL, providers: 'cpu' })
    expect(r.learn).toMatchObject({ trained: false, features: { total: 0, cached: 300 } })
    expect(r).toMatchObject({ done: 0, resourced: 0 })
    expect(r.provider).toBeUndefined()
    expect(r.learnedLabels).toContain('dog')
    const sources = await describeLabels(store)
    expect(sources.labels.find((l) => l.label === 'bird')).toMatchObject({
      source: 'learned',
      proposedWith: ['learned'],
    })
    store.close()

    const status = await camlabel('status', file)
    expect(status.out).toMatch(/bird\s+learned head, CV accuracy \d+\.\d%/)
  })

  it('--map is saved in the project and used: a changed source re-proposes that label, decisions kept', async () => {
    const store = ProjectStore.open(file)
    const dogImages = store.gallery.ids({ label: 'dog' })
    expect(dogImages).toHaveLength(26)
    const pendingDog = store.review.boxes(dogImages[0]).find((b) => b.status === 'pending')!
    const accepted = accept(store, pendingDog.id)
    store.close()

    const mapped = await camlabel('propose', file, ...cpu, '--map', 'dog=#151-268')
    expect(mapped.code).toBe(0)
    expect(mapped.err).toMatch(/re-proposed 26 images for labels whose CAM source changed/)
    const again = await camlabel('propose', file, ...cpu)
    expect(again.err).not.toMatch(/re-proposed/) // the stored mapping is used
    const s = ProjectStore.open(file)
    expect(s.labels.mappings().get('dog')).toEqual(['#151-268'])
    expect(s.review.boxes(dogImages[0]).find((b) => b.id === accepted)?.status).toBe('accepted')
    expect(s.runs.cams(dogImages[1]).find((c) => c.label === 'dog')?.source).toBe('model')
    expect(s.runs.cams(dogImages[1]).find((c) => c.label === 'bird')).toBeUndefined()
    s.close()
    expect((await camlabel('status', file)).out).toMatch(
      /dog\s+mapped onto model classes: Chihuahua/,
    )

    // back to the default: the learned head again, for dog only
    const back = await camlabel('propose', file, ...cpu, '--map', 'dog=auto')
    expect(back.err).toMatch(/re-proposed 26 images/)
    const t = ProjectStore.open(file)
    expect(t.labels.mappings().size).toBe(0)
    expect(t.runs.cams(dogImages[1]).find((c) => c.label === 'dog')?.source).toBe('learned')
    t.close()
    // a class the model does not have is refused before anything changes
    const bad = await camlabel('propose', file, ...cpu, '--map', 'dog=no-such-class')
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/not a class of this model/)
  })

  it('learn prints the quality table; retraining with another λ makes learned labels stale', async () => {
    const current = await camlabel('learn', file, ...cpu)
    expect(current.code).toBe(0)
    expect(current.out).toMatch(/class\s+images\s+CV acc\s+false pos/)
    expect(current.out).toMatch(/\n {2}dog\s+26\s+\d+\.\d%/)
    expect(current.out).toMatch(/warning: 'aircraft' has 1 image: too few images/)
    expect(current.err).toMatch(/stored head is current/)
    const retrained = await camlabel('learn', file, ...cpu, '--lambda', '0.1')
    expect(retrained.out).toMatch(/λ 0\.1, 114 images/)
    expect(retrained.err).toMatch(/trained in \d+ ms/)
    const after = await camlabel('propose', file, ...cpu, '--head', 'auto')
    expect(after.err).toMatch(/re-proposed 114 images for labels whose CAM source changed/)
  })
})

describe('learn on a project with one class', () => {
  it('warns that there is nothing to discriminate and suggests background negatives', async () => {
    await init('raccoon.camlabel', raccoon, path.join(raccoon, 'labels.csv'))
    const file = path.join(tmp, 'raccoon.camlabel')
    const r = await camlabel('learn', file, ...cpu)
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/Only one class \('raccoon'\).*'background' label or folder/)
    const store = ProjectStore.open(file)
    expect(store.learning.head()).toBeUndefined()
    expect(store.learning.featureCounts('anything').cached).toBe(0) // no feature pass was spent on it
    store.close()
    expect((await camlabel('status', file)).out).toMatch(/raccoon\s+class-agnostic CAM/)
  })
})

describe('an interrupted feature pass', () => {
  it('keeps what it extracted and the next pass does only the rest', async () => {
    await init('resume.camlabel', imagenet, path.join(imagenet, 'labels-coarse.csv'))
    const store = ProjectStore.open(path.join(tmp, 'resume.camlabel'))
    const abort = new AbortController()
    const first = await extractProjectFeatures(store, {
      model: MODEL,
      providers: 'cpu',
      signal: abort.signal,
      report: (e) => e.type === 'progress' && e.done === 40 && abort.abort(),
    })
    expect(first.cancelled).toBe(true)
    const kept = store.learning.featureCounts(first.featureKey).cached
    expect(kept).toBeGreaterThanOrEqual(40)
    expect(kept).toBeLessThan(300)
    expect(store.jobs.list('features')[0]).toMatchObject({ status: 'cancelled' })
    const second = await extractProjectFeatures(store, { model: MODEL, providers: 'cpu' })
    expect(second).toMatchObject({ cancelled: false, cached: kept, total: 300 - kept })
    expect(second.extracted).toBe(300 - kept)
    expect(store.learning.featureCounts(first.featureKey)).toEqual({
      cached: 300,
      failed: 0,
      missing: 0,
    })
    expect(store.integrityCheck()).toBe('ok')
    store.close()
  })
})
