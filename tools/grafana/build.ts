// Writes the dashboards of tools/grafana into deploy/grafana/dashboards/*.json, removes the JSON
// of dashboards that no longer exist, and formats the files with the project's Biome so that
// `biome check` passes on them. Run from anywhere: `node tools/grafana/build.ts` (Node >= 22.18,
// e.g. the launcher's .payrail/node). test/operations/grafana-dashboards.test.ts fails while the
// committed JSON differs from what this writes.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DASHBOARD_DIR, payrailDashboards } from './dashboards.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const directory = join(root, DASHBOARD_DIR)
const dashboards = payrailDashboards()

mkdirSync(directory, { recursive: true })
for (const file of readdirSync(directory))
  if (file.endsWith('.json') && !dashboards.has(file)) rmSync(join(directory, file))
for (const [file, dashboard] of dashboards)
  writeFileSync(join(directory, file), `${JSON.stringify(dashboard, null, 2)}\n`)

const biome = spawnSync(join(root, 'node_modules', '.bin', 'biome'), ['format', '--write', DASHBOARD_DIR], {
  cwd: root,
  stdio: 'inherit',
})
if (biome.status !== 0) {
  console.error(`biome format failed (exit ${biome.status ?? biome.signal})`)
  process.exit(1)
}
console.log(`wrote ${dashboards.size} dashboards to ${DASHBOARD_DIR}: ${[...dashboards.keys()].join(', ')}`)
