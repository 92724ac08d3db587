// oclif writes commands in directory-listing order, which differs between file systems; sorted by
// id, the committed manifest is the same wherever it is generated.
import {readFileSync, writeFileSync} from 'node:fs'

const path = new URL('../oclif.manifest.json', import.meta.url)
const manifest = JSON.parse(readFileSync(path, 'utf8'))
const ids = Object.keys(manifest.commands).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
manifest.commands = Object.fromEntries(ids.map((id) => [id, manifest.commands[id]]))
writeFileSync(path, `${JSON.stringify(manifest, null, 2)}\n`)
