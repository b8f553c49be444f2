import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// The layering of src/, checked on every test run: `./payrail test test/structure` shows it
// alone. A folder may import its own files and folders of a lower layer, never one above it
// nor a peer on its own layer; and no chain of imports between files may come back to its start.
const LAYERS: readonly (readonly string[])[] = [
  ['domain'],
  ['runtime'],
  ['config', 'http'],
  ['observability', 'kafka'],
  ['db'],
  ['ledger', 'acquirer'],
  ['outbox'],
  // operations: what the operations endpoints read (roles' health and metrics, Kafka lag, the
  // ledger's stored checks, load runs as child processes); served by the api. webhooks:
  // endpoints, deliveries, signing, the SSRF guard and the sender; the api serves its endpoints
  // and log, the notifier runs its dispatcher.
  ['operations', 'webhooks'],
  ['api', 'workers', 'gateway', 'dashboard'],
  // notifier: the webhook role, a keyed consumer of the workers' kind feeding webhooks/.
  ['notifier'],
  // load: an HTTP client of the roles (scheduler, scenarios, reports); above them so it may share
  // their protocol constants (the simulator's decline cents), below cli which runs it.
  ['load'],
  // chaos: runs the roles and the load tool against them, then reads the database to judge.
  ['chaos'],
  ['cli'],
]

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const src = join(root, 'src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** Relative imports and re-exports of a file (type-only ones included: they shape the layering too). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+'(\.[^']+)'/gms)].map(
    (match) => match[1] as string,
  )
  return specifiers.map((specifier) => resolve(dirname(file), specifier))
}

const folderOf = (file: string): string => relative(src, file).split('/')[0] ?? ''

const layerOf = (folder: string): number => LAYERS.findIndex((layer) => layer.includes(folder))

const files = sourceFiles(src)
const graph = new Map(files.map((file) => [file, importsOf(file)]))

test('every folder of src/ has a layer', () => {
  const folders = new Set(files.map(folderOf).filter((folder) => !folder.endsWith('.ts')))
  const unplaced = [...folders].filter((folder) => layerOf(folder) < 0)
  assert.deepEqual(unplaced, [], 'add the new folder to LAYERS in test/structure/imports.test.ts')
})

test('no folder imports a folder above it or beside it; src/domain imports only itself', () => {
  const violations: string[] = []
  for (const [file, imports] of graph) {
    const from = folderOf(file)
    for (const target of imports) {
      const to = folderOf(target)
      if (to === from) continue
      if (!target.startsWith(src)) violations.push(`${relative(root, file)} imports outside src: ${target}`)
      else if (layerOf(to) >= layerOf(from))
        violations.push(`${relative(src, file)} (${from}) imports ${relative(src, target)} (${to})`)
    }
  }
  assert.deepEqual(violations, [])
})

test('every relative import names a file that exists', () => {
  const known = new Set(files)
  const missing = [...graph].flatMap(([file, imports]) =>
    imports.filter((target) => !known.has(target)).map((target) => `${relative(src, file)} → ${target}`),
  )
  assert.deepEqual(missing, [])
})

/** Tarjan's strongly connected components: any of more than one file, or a file importing itself, is a cycle. */
function cyclesOf(graph: Map<string, string[]>): string[][] {
  let counter = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const cycles: string[][] = []
  const visit = (file: string): void => {
    index.set(file, counter)
    low.set(file, counter)
    counter++
    stack.push(file)
    onStack.add(file)
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue
      if (!index.has(target)) {
        visit(target)
        low.set(file, Math.min(low.get(file) as number, low.get(target) as number))
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file) as number, index.get(target) as number))
      }
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = []
      let member: string
      do {
        member = stack.pop() as string
        onStack.delete(member)
        component.push(member)
      } while (member !== file)
      if (component.length > 1 || (graph.get(file) ?? []).includes(file)) cycles.push(component.sort())
    }
  }
  for (const file of graph.keys()) if (!index.has(file)) visit(file)
  return cycles
}

test('no import cycle between the files of src/', () => {
  assert.deepEqual(
    cyclesOf(graph).map((cycle) => cycle.map((file) => relative(src, file))),
    [],
  )
})

test('the checker finds imports, cycles and self-imports when there are some', () => {
  // Guards the checker itself: one that found no imports or no cycles would pass everything.
  assert.ok((graph.get(join(src, 'api', 'role.ts')) ?? []).some((target) => folderOf(target) === 'outbox'))
  const synthetic = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a', 'd']],
    ['d', []],
    ['e', ['e']],
  ])
  assert.deepEqual(cyclesOf(synthetic), [['a', 'b', 'c'], ['e']])
})
