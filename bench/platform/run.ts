/**
 * bench/platform: authorize throughput of the whole platform through the gateway
 * (bench/platform/stack.ts: private broker, scratch database, acquirer simulator at its default
 * 50–150 ms and 0.5 % failures, N api processes, gateway, relay, worker), loaded open-model by a
 * second process (`payrail load authorize`, latency from each request's due time).
 *
 * For each dialect and api process count it offers rising constant rates (each `--step` long,
 * × `--factor` per step, then one bisection; a rate that misses is offered again, up to
 * `--tries` times, before it counts as missed) and takes the highest rate that met the target
 * (p99 ≤ `--p99`, errors ≤ 2 × the simulator's failure rate, nothing dropped). At 80 % of that
 * rate it prints p50/p95/p99 and the CPU per authorize of every process (each role, the
 * database server, Redis, Kafka and the load generator), then a closed-model run (`--vus`
 * users back to back, the figure the earlier benchmarks gave) and the statements per authorize
 * (support/statement-profile.ts). The ratio is to the original system's 310 authorizations/s
 * measured on the same kind of 2-core machine.
 *
 *   ./payrail bench platform [--databases sqlite,mysql,postgres] [--api-processes 1,2]
 *     [--start 400] [--factor 1.3] [--max 8000] [--step 15s] [--p99 300] [--vus 256]
 *     [--env NAME=VALUE …]
 *   ./payrail bench platform -- --at 300 [--databases mysql] [--private-servers]
 *   ./payrail bench platform -- --profile-at 800 [--databases sqlite] [--api-processes 1]
 *
 * `--at RATE` offers one step at RATE instead of the search and prints the CPU per authorize of
 * every process, met or not: two configurations compared at the same load. `--profile-at RATE`
 * does the same with every role under `--cpu-prof`, and prints where each role's CPU went
 * (bench/lib/cpu-profile.ts). `--private-servers` runs the database and Redis as the run's own
 * servers on spare ports, so that their CPU is the run's alone on a shared machine.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT } from '../../src/cli/context.ts'
import type { DialectName } from '../../src/db/database.ts'
import { parseDuration } from '../../src/load/options.ts'
import { answersText, type LoadReport } from '../../src/load/report.ts'
import { metricOf } from '../../src/load/scrape.ts'
import { createScratchDatabase, scratchServerOf } from '../../support/databases.ts'
import { startAcquirer } from '../../support/processes.ts'
import { profileStatements } from '../../support/statement-profile.ts'
import { processSeconds, serverSeconds } from '../lib/cpu.ts'
import { profileLines, summarizeProfiles } from '../lib/cpu-profile.ts'
import { type Platform, startPlatform } from './stack.ts'

const ORIGINAL_RATE = 310
const FAILURE_RATE = 0.005 // ACQUIRER_AUTH_FAILURE_RATE's default, which the stack keeps

const { values } = parseArgs({
  options: {
    databases: { type: 'string', default: 'sqlite,mysql,postgres' },
    'api-processes': { type: 'string', default: '1' },
    start: { type: 'string', default: '400' },
    factor: { type: 'string', default: '1.3' },
    max: { type: 'string', default: '8000' },
    step: { type: 'string', default: '15s' },
    p99: { type: 'string', default: '300' },
    vus: { type: 'string', default: '256' },
    'acquirer-latency': { type: 'string', default: '50-150' },
    merchants: { type: 'string', default: '20' },
    'pool-max': { type: 'string', default: '20' },
    'profile-at': { type: 'string' },
    at: { type: 'string' },
    tries: { type: 'string', default: '2' },
    env: { type: 'string', multiple: true, default: [] },
    'private-servers': { type: 'boolean', default: false },
  },
})
const number = (name: string, text: string, min: number) => {
  const value = Number(text)
  if (!(Number.isFinite(value) && value >= min))
    throw new Error(`--${name} must be a number ≥ ${min} (got ${text})`)
  return value
}
const databases = values.databases.split(',') as DialectName[]
for (const database of databases) {
  if (database !== 'sqlite' && database !== 'mysql' && database !== 'postgres')
    throw new Error(`--databases takes sqlite, mysql and postgres (got ${database})`)
}
const apiCounts = values['api-processes'].split(',').map((text) => number('api-processes', text, 1))
const startRate = number('start', values.start, 1)
const factor = number('factor', values.factor, 1.05)
const maxRate = number('max', values.max, startRate)
const stepSeconds = parseDuration('--step', values.step) / 1000
const p99Target = number('p99', values.p99, 1)
const vus = number('vus', values.vus, 0)
const merchants = number('merchants', values.merchants, 1)
/** A rate counts as missed only after this many steps at it missed: one stall of this shared machine can fail a step. */
const tries = number('tries', values.tries, 1)
/**
 * `--private-servers`: MariaDB or PostgreSQL, and Redis, started for the run on spare ports, so
 * that the servers' CPU per authorize is the run's alone while other work uses the shared ones.
 */
const privateServers = values['private-servers']
/** `--env NAME=VALUE` (repeatable): configuration for every role, e.g. DB_GROUP_COMMIT_MAX=1 to compare. */
const roleEnv: Record<string, string> = { DB_POOL_MAX: values['pool-max'] }
for (const pair of values.env) {
  const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair)
  if (match === null) throw new Error(`--env takes NAME=VALUE (got ${pair})`)
  roleEnv[match[1] as string] = match[2] as string
}

/** Units and transactions of the api processes' group commits so far (their /metrics). */
async function groupCommits(platform: Platform): Promise<{ units: number; transactions: number }> {
  const total = { units: 0, transactions: 0 }
  for (const [name, role] of platform.processes) {
    if (!name.startsWith('api-')) continue
    const page = await (await fetch(`${role.url}/metrics`)).text()
    total.units += metricOf(page, 'payrail_db_group_commit_size_sum') ?? 0
    total.transactions += metricOf(page, 'payrail_db_group_commit_size_count') ?? 0
  }
  return total
}

interface Step {
  rate: number
  report: LoadReport
  /** Requests' writes per group-commit transaction in the api processes. */
  perCommit: number
  /** CPU ms per successful authorize, by process. */
  cpu: Record<string, number>
  passed: boolean
}

/** One `payrail load authorize` run as a second process; its JSON report and the CPU spent meanwhile. */
async function offer(
  platform: Platform,
  dir: string,
  model: string[],
  label: string,
): Promise<Omit<Step, 'passed' | 'rate'>> {
  const out = join(dir, `load-${label}`)
  const pids = [...platform.processes].map(([name, role]) => [name, role.child.pid as number] as const)
  const before = new Map(pids.map(([name, pid]) => [name, processSeconds(pid)]))
  const serversNow = () => ({ ...(privateServers ? {} : serverSeconds()), ...platform.serverSeconds() })
  const serversBefore = serversNow()
  const commitsBefore = await groupCommits(platform)
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'src', 'cli', 'main.ts'),
      'load',
      'authorize',
      '--url',
      platform.gatewayUrl,
      '--keys-file',
      platform.keysFile,
      '--duration',
      `${stepSeconds}s`,
      '--no-progress',
      '--seed',
      '2026',
      '--out',
      out,
      ...model,
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  )
  const [code] = await once(child, 'exit')
  // `payrail load` exits 1 when a threshold failed; no threshold is set here, so any other code is a failure.
  if (code !== 0) throw new Error(`payrail load exited with ${code}`)
  const report = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as LoadReport
  const commits = await groupCommits(platform)
  const transactions = commits.transactions - commitsBefore.transactions
  const perCommit = transactions === 0 ? 0 : (commits.units - commitsBefore.units) / transactions
  const served = report.steps.authorize?.count ?? 0
  const perAuthorize = (seconds: number) => (served === 0 ? 0 : (seconds * 1000) / served)
  const cpu: Record<string, number> = {}
  for (const [name, pid] of pids) cpu[name] = perAuthorize(processSeconds(pid) - (before.get(name) ?? 0))
  const servers = serversNow()
  for (const [name, seconds] of Object.entries(servers)) {
    const spent = seconds - (serversBefore[name] ?? 0)
    if (spent > 0) cpu[name] = perAuthorize(spent)
  }
  cpu.load = report.generator === undefined ? 0 : report.generator.cpuMicrosPerRequest / 1000
  return { report, cpu, perCommit }
}

const passes = (report: LoadReport) =>
  (report.steps.authorize?.p99 ?? Number.POSITIVE_INFINITY) <= p99Target &&
  report.errorShare <= 2 * FAILURE_RATE &&
  report.iterations.dropped === 0

const ms = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(1))
const line = (step: { rate: number | string; report: LoadReport; perCommit: number; passed?: boolean }) => {
  const a = step.report.steps.authorize
  return `  offered ${String(step.rate).padStart(6)}/s  achieved ${step.report.achievedRate.toFixed(0).padStart(5)}/s  p50 ${ms(a?.p50)}  p95 ${ms(a?.p95)}  p99 ${ms(a?.p99)} ms  errors ${(step.report.errorShare * 100).toFixed(2)} %${step.report.errorShare > 0.01 ? ` (${answersText(step.report.answers)})` : ''}  dropped ${step.report.iterations.dropped}  writes/commit ${step.perCommit.toFixed(1)}${step.passed === undefined ? '' : step.passed ? '  meets' : '  misses'}`
}
const cpuText = (cpu: Record<string, number>) =>
  Object.entries(cpu)
    .filter(([, value]) => value > 0.0005)
    .map(([name, value]) => `${name} ${value.toFixed(3)}`)
    .join(', ')

interface Result {
  database: DialectName
  apiProcesses: number
  best: number
  at80: Step
  closed?: Omit<Step, 'passed' | 'rate'>
}

/** The platform of this run's options in a new folder (`dir`). */
async function platformOf(database: DialectName, apiProcesses: number, profile = false) {
  const dir = mkdtempSync(join(tmpdir(), 'payrail-bench-platform-'))
  const profileDir = join(dir, 'profiles')
  const platform = await startPlatform({
    dialect: database,
    apiProcesses,
    acquirerLatency: values['acquirer-latency'],
    merchants,
    dir,
    env: roleEnv,
    privateServers,
    ...(profile ? { profileDir } : {}),
  })
  return { dir, profileDir, platform }
}

async function measure(database: DialectName, apiProcesses: number): Promise<Result> {
  const { dir, platform } = await platformOf(database, apiProcesses)
  try {
    console.log(`\n${database}, ${apiProcesses} api process(es): gateway ${platform.gatewayUrl}`)
    await offer(platform, dir, ['--rate', String(startRate / 2)], 'warm-up')
    const steps: Step[] = []
    const run = async (rate: number) => {
      let step: Step | undefined
      for (let attempt = 1; attempt <= tries && !step?.passed; attempt++) {
        const measured = await offer(platform, dir, ['--rate', String(rate)], `rate-${rate}-${attempt}`)
        step = { rate, ...measured, passed: passes(measured.report) }
        console.log(line(step))
        steps.push(step)
      }
      return step as Step
    }
    // Down by halves while even the start rate misses; else up by `factor` until a rate misses.
    let rate = startRate
    let failedAt = Number.POSITIVE_INFINITY
    while (!(await run(rate)).passed) {
      failedAt = rate
      rate = Math.round(rate / 2)
      if (rate < 25) break
    }
    if (!Number.isFinite(failedAt)) {
      for (rate = Math.round(rate * factor); rate <= maxRate; rate = Math.round(rate * factor)) {
        if (!(await run(rate)).passed) {
          failedAt = rate
          break
        }
      }
    }
    let best = Math.max(0, ...steps.filter((step) => step.passed).map((step) => step.rate))
    if (Number.isFinite(failedAt) && best > 0) {
      const middle = Math.round((best + failedAt) / 2)
      if ((await run(middle)).passed) best = middle
    }
    const target = Math.max(1, Math.round(best * 0.8))
    const at80measured = await offer(platform, dir, ['--rate', String(target)], `at80-${target}`)
    const at80 = { rate: target, ...at80measured, passed: passes(at80measured.report) }
    console.log(
      `${line({ ...at80, rate: `${target} (80 %)` })}\n    CPU ms per authorize: ${cpuText(at80.cpu)}`,
    )
    let closed: Result['closed']
    if (vus > 0) {
      closed = await offer(platform, dir, ['--vus', String(vus)], 'closed')
      console.log(
        `${line({ rate: `${vus} vus`, ...closed })}\n    CPU ms per authorize: ${cpuText(closed.cpu)}`,
      )
    }
    return { database, apiProcesses, best, at80, ...(closed === undefined ? {} : { closed }) }
  } finally {
    await platform.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function statementsPerAuthorize(database: DialectName): Promise<string> {
  const acquirer = await startAcquirer({ ACQUIRER_AUTH_LATENCY_MS: '0-0' })
  const scratch = await createScratchDatabase(database, scratchServerOf(database), 'payrail_bench_stmts')
  try {
    const profile = await profileStatements({
      dialect: database,
      databaseUrl: scratch.url,
      acquirerUrl: acquirer.url,
      authorizations: 5,
    })
    const authorize = profile.operations.find((cost) => cost.operation === 'authorize')
    return authorize === undefined ? '-' : `${authorize.tally.statements} / ${authorize.tally.roundTrips}`
  } finally {
    await scratch.drop()
    await acquirer.stop()
  }
}

/**
 * One step at `rate` (after a warm-up at half of it) and the CPU each process spent per
 * authorize, met or not: `--at RATE` compares configurations at the same load; with `profile`
 * (`--profile-at RATE`) every role runs under `--cpu-prof` and where each one's CPU went follows.
 */
async function stepAt(
  database: DialectName,
  apiProcesses: number,
  rate: number,
  profile: boolean,
): Promise<void> {
  const { dir, profileDir, platform } = await platformOf(database, apiProcesses, profile)
  const names = [...platform.processes.keys()]
  try {
    await offer(platform, dir, ['--rate', String(Math.round(rate / 2))], 'warm-up')
    const step = await offer(platform, dir, ['--rate', String(rate)], `at-${rate}`)
    console.log(
      `${database}, ${apiProcesses} api process(es)${profile ? ', profiled' : ''}\n${line({ rate, ...step, passed: passes(step.report) })}`,
    )
    console.log(`    CPU ms per authorize: ${cpuText(step.cpu)}`)
  } finally {
    await platform.stop()
  }
  if (profile)
    for (const name of names) {
      console.log(`\n${name}:`)
      for (const text of profileLines(summarizeProfiles(join(profileDir, name)))) console.log(`  ${text}`)
    }
  rmSync(dir, { recursive: true, force: true })
}

const fixedRate = values['profile-at'] ?? values.at
if (fixedRate !== undefined) {
  for (const database of databases)
    for (const count of apiCounts)
      await stepAt(database, count, number('at', fixedRate, 1), values['profile-at'] !== undefined)
  process.exit(0)
}

const results: Result[] = []
for (const database of databases) for (const count of apiCounts) results.push(await measure(database, count))
const statements = new Map<DialectName, string>()
for (const database of databases) statements.set(database, await statementsPerAuthorize(database))

// The roles in the platform's order (api-1, api-2, … together), then the servers and the load.
const processNames = [...new Set(results.flatMap((result) => Object.keys(result.at80.cpu)))].sort((a, b) => {
  const rank = (name: string) => {
    const at = ['acquirer', 'api-', 'gateway', 'relay', 'worker'].findIndex((role) => name.startsWith(role))
    return at < 0 ? 100 : at
  }
  return rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true })
})
console.log(
  `\nOpen model through the gateway, acquirer ${values['acquirer-latency']} ms; target p99 ≤ ${p99Target} ms, errors ≤ ${(2 * FAILURE_RATE * 100).toFixed(1)} %, steps of ${stepSeconds} s\n`,
)
console.log(
  `| database | api processes | highest rate meeting the target | × original (${ORIGINAL_RATE}/s) | at 80 %: p50 / p95 / p99 ms | errors | statements / round trips per authorize | ${processNames.map((name) => `${name} CPU ms`).join(' | ')} | closed model (${vus} users): /s, p99 ms |`,
)
console.log(`|${' --- |'.repeat(7 + processNames.length)}`)
for (const result of results) {
  const a = result.at80.report.steps.authorize
  const closed =
    result.closed === undefined
      ? '-'
      : `${result.closed.report.achievedRate.toFixed(0)}, ${ms(result.closed.report.steps.authorize?.p99)}`
  console.log(
    `| ${result.database} | ${result.apiProcesses} | ${result.best} | ${(result.best / ORIGINAL_RATE).toFixed(1)} | ${ms(a?.p50)} / ${ms(a?.p95)} / ${ms(a?.p99)} | ${(result.at80.report.errorShare * 100).toFixed(2)} % | ${statements.get(result.database)} | ${processNames.map((name) => (result.at80.cpu[name] ?? 0).toFixed(3)).join(' | ')} | ${closed} |`,
  )
}
