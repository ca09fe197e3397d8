#!/usr/bin/env node
// Runs the camlabel command from the TypeScript sources through tsx, so `npx camlabel` works in a
// checkout without a build step.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
