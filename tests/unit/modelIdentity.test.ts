/**
 * Model identity: one rule for "is this a path", and a revision that changes whenever what the
 * model computes from a photo can change — a manifest model's weights (its sha256), a user file
 * replaced in place, the preprocessing.
 */
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { manifestPath } from '../../src/main/engine/manifest.ts'
import {
  featureKey,
  isModelPath,
  modelIdentity,
  modelName,
} from '../../src/main/engine/modelIdentity.ts'

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-identity-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const saved = process.env.CAMLABEL_MANIFEST
afterEach(() => {
  if (saved === undefined) delete process.env.CAMLABEL_MANIFEST
  else process.env.CAMLABEL_MANIFEST = saved
})

describe('model identity', () => {
  test('a path is what ends in .onnx or has a separator; anything else is a manifest id', () => {
    expect(isModelPath('squeezenet1.1-fp16')).toBe(false)
    expect(isModelPath('model.ONNX')).toBe(true)
    expect(isModelPath('models/mine')).toBe(true)
    expect(isModelPath('C:\\models\\mine')).toBe(true)
    expect(() => modelIdentity('no-such-model')).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_MODEL' }),
    )
    expect(() => modelIdentity(path.join(tmp, 'missing.onnx'))).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    )
  })

  test("a manifest model's revision changes when its weights (sha256) change", () => {
    const before = modelIdentity('squeezenet1.1-fp16')
    expect(before).toMatchObject({
      ref: 'squeezenet1.1-fp16',
      revision: expect.stringMatching(/^[0-9a-f]{16}$/),
    })
    expect(modelIdentity()).toEqual(before) // the default model
    const manifest = JSON.parse(readFileSync(manifestPath(), 'utf8')) as {
      models: { id: string; sha256: string }[]
    }
    const entry = manifest.models.find((m) => m.id === 'squeezenet1.1-fp16')!
    entry.sha256 = 'f'.repeat(64)
    const replaced = path.join(tmp, 'manifest.json')
    writeFileSync(replaced, JSON.stringify(manifest))
    process.env.CAMLABEL_MANIFEST = replaced
    const after = modelIdentity('squeezenet1.1-fp16')
    expect(after.ref).toBe(before.ref)
    expect(after.revision).not.toBe(before.revision)
    expect(featureKey(after, 'fire9/concat_2')).not.toBe(featureKey(before, 'fire9/concat_2'))
  })

  test("a user's file is keyed by its absolute path, and replaced in place it is a new revision", () => {
    const file = path.join(tmp, 'mine.onnx')
    writeFileSync(file, 'v1')
    utimesSync(file, 1000, 1000)
    const a = modelIdentity('mine.onnx', { cwd: tmp })
    expect(a).toMatchObject({ ref: file, file, spec: undefined })
    expect(a.revision).toMatch(/^file-[0-9a-f]{16}$/)
    expect(modelName(a)).toBe('mine.onnx')
    writeFileSync(file, 'v2 — retrained')
    utimesSync(file, 2000, 2000)
    expect(modelIdentity(file).revision).not.toBe(a.revision)
  })
})
