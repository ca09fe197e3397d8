/**
 * The `camlabel` command's entry in the built bundle (out/main/cli.js): what `bin/camlabel.mjs`
 * runs in a checkout, and what an installed app's `camlabel` launcher runs on the app's own
 * Electron as Node. Inside an installed app it uses the app's models (see app/models.ts).
 */
import { fileURLToPath } from 'node:url'
import { configureModels, installedPlace } from '../main/app/models.ts'
import { main } from './main.ts'

const place = installedPlace(fileURLToPath(import.meta.url))
if (place) configureModels(place)
process.exitCode = await main(process.argv.slice(2))
