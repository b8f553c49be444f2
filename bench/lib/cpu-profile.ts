/**
 * Where a process's CPU went, from the `.cpuprofile` files Node writes with `--cpu-prof`: self
 * time summed by area (a package of node_modules, a folder of payrail's src, Node's own
 * internals, the garbage collector, idle) and by function, as shares of the busy time. Written
 * here because the profile format is small and the one tool that reads it (Chrome's DevTools)
 * has no command line.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** `fastify`, `@platformatic/kafka`, `src/api`, `node:internal`, `(garbage collector)`, … */
function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  const modules = url.lastIndexOf('/node_modules/')
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/')
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url)
  }
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node:internal' : url
  const src = url.indexOf('/src/')
  if (src >= 0)
    return url
      .slice(src + 1)
      .split('/')
      .slice(0, 2)
      .join('/')
  return url
}

export interface ProfileSummary {
  /** Milliseconds of samples that were not idle. */
  busyMs: number
  byArea: [string, number][]
  byFunction: [string, number][]
  /** payrail's own functions (src/) with the time spent in them and everything they called. */
  inclusive: [string, number][]
}

/** Adds up every `.cpuprofile` in `dir` (one per process that exited). */
export function summarizeProfiles(dir: string): ProfileSummary {
  const areas = new Map<string, number>()
  const functions = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let busy = 0
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile
    const byId = new Map(profile.nodes.map((node) => [node.id, node]))
    const parent = new Map<number, number>()
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
    const nameOf = (node: ProfileNode) => {
      const { functionName, url, lineNumber } = node.callFrame
      return `${functionName || '(anonymous)'} ${areaOf(url, functionName)}:${lineNumber + 1}`
    }
    for (const [i, id] of profile.samples.entries()) {
      const node = byId.get(id)
      const micros = profile.timeDeltas[i] ?? 0
      if (node === undefined || node.callFrame.functionName === '(idle)') continue
      busy += micros
      const area = areaOf(node.callFrame.url, node.callFrame.functionName)
      areas.set(area, (areas.get(area) ?? 0) + micros)
      const name = nameOf(node)
      functions.set(name, (functions.get(name) ?? 0) + micros)
      // Each of payrail's functions on this sample's stack, once (a recursive one is not counted twice).
      const seen = new Set<string>()
      for (let at: ProfileNode | undefined = node; at !== undefined; at = byId.get(parent.get(at.id) ?? -1)) {
        if (!at.callFrame.url.includes('/src/') || at.callFrame.url.includes('/node_modules/')) continue
        const own = nameOf(at)
        if (seen.has(own)) continue
        seen.add(own)
        inclusive.set(own, (inclusive.get(own) ?? 0) + micros)
      }
    }
  }
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1])
  return {
    busyMs: busy / 1000,
    byArea: sorted(areas),
    byFunction: sorted(functions),
    inclusive: sorted(inclusive),
  }
}

/** The summary as lines: the top areas and functions with their share of busy time. */
export function profileLines(summary: ProfileSummary, top = 15): string[] {
  const share = (micros: number) => `${((micros / 1000 / summary.busyMs) * 100).toFixed(1).padStart(5)} %`
  return [
    `busy ${summary.busyMs.toFixed(0)} ms; by area:`,
    ...summary.byArea.slice(0, top).map(([name, micros]) => `  ${share(micros)}  ${name}`),
    'by function (self time):',
    ...summary.byFunction.slice(0, top).map(([name, micros]) => `  ${share(micros)}  ${name}`),
    "payrail's functions (with what they call):",
    ...summary.inclusive.slice(0, top).map(([name, micros]) => `  ${share(micros)}  ${name}`),
  ]
}
