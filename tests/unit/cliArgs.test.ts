import { describe, expect, test } from 'vitest'
import { runCamlabel } from '../helpers/cli.ts'

describe('camlabel arguments', () => {
  test('a bad option value is refused before any work, naming the option and what it takes', async () => {
    const working = await runCamlabel([
      'propose',
      '--images',
      '.',
      '--out',
      'x.json',
      '--working-size',
      '300.5',
    ])
    expect(working.code).toBe(1)
    expect(working.err).toContain(
      "--working-size must be a whole number from 16 to 8192, got '300.5'",
    )
    const threshold = await runCamlabel([
      'propose',
      '--images',
      '.',
      '--out',
      'x.json',
      '--threshold',
      'high',
    ])
    expect(threshold.err).toContain('--threshold must be a number from 0.01 to 0.99')
    const upscale = await runCamlabel([
      'propose',
      '--images',
      '.',
      '--out',
      'x.json',
      '--upscale',
      'fancy',
    ])
    expect(upscale.err).toContain('--upscale must be one of bilinear, guided')
    const map = await runCamlabel(['propose', '--images', '.', '--out', 'x.json', '--map', 'dog'])
    expect(map.err).toContain('--map expects LABEL=CLASS')
  })

  test('an unknown option or command says where to look', async () => {
    const option = await runCamlabel(['propose', '--colour', 'red'])
    expect(option.code).toBe(1)
    expect(option.err).toMatch(/colour/)
    expect(option.err).toContain('camlabel propose --help')
    const command = await runCamlabel(['proposee'])
    expect(command.code).toBe(2)
    expect(command.err).toContain("unknown command 'proposee'")
  })

  test('--help of every command prints its usage', async () => {
    for (const name of ['models', 'propose', 'init', 'status', 'export', 'learn']) {
      const help = await runCamlabel([name, '--help'])
      expect(help.code).toBe(0)
      expect(help.out).toMatch(new RegExp(`^Usage: camlabel ${name}`))
    }
  })
})
