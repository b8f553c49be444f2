import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Command } from 'commander'
import { issueApiKey } from '../../db/merchants.ts'
import { PayrailError } from '../../domain/errors.ts'
import { htmlReport } from '../../load/html.ts'
import { mergeReports } from '../../load/merge.ts'
import {
  PRESETS,
  parseDuration,
  parseMix,
  parseRate,
  parseScrape,
  parseStages,
  presetOf,
  seededRandom,
} from '../../load/options.ts'
import {
  buildReport,
  type LoadReport,
  progressLine,
  progressSummary,
  summaryTable,
} from '../../load/report.ts'
import { type LoadRunOptions, type Progress, runLoadTest } from '../../load/run.ts'
import { SCENARIOS, type ScenarioName } from '../../load/scenarios.ts'
import { ArrivalSchedule, type Stage } from '../../load/schedule.ts'
import { evaluateThresholds, parseThreshold } from '../../load/thresholds.ts'
import { countOption, ROOT, say, withDatabase } from '../context.ts'

interface LoadFlags {
  url?: string
  rate?: string
  duration: string
  stages?: string
  preset?: string
  vus?: string
  maxInFlight: string
  connections: string
  timeout: string
  waitTimeout: string
  merchants?: string
  keysFile?: string
  declines?: boolean
  mix: string
  scrape: string[]
  threshold: string[]
  out?: string
  seed?: string
  progress?: boolean
  progressFile?: string
}

const collect = (value: string, previous: string[]) => [...previous, value]

/** Replaces the file whole (written beside it, then renamed), so a reader never sees half of it. */
function writeProgressFile(path: string, progress: Progress): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(progressSummary(progress)))
  renameSync(`${path}.tmp`, path)
}

/** API keys from a file, one a line (blank lines and `#` comments skipped). */
function keysFromFile(path: string): string[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new PayrailError('USAGE', `--keys-file ${path}: ${(error as Error).message}`)
  }
  const keys = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
  // The message gives the line number, never the text: a near-miss is still a secret.
  keys.forEach((key, i) => {
    if (!/^prk_[A-Za-z0-9_-]{20,}$/.test(key))
      throw new PayrailError('USAGE', `--keys-file ${path}: key ${i + 1} is not a payrail API key (prk_…)`)
  })
  if (keys.length === 0) throw new PayrailError('USAGE', `--keys-file ${path} holds no keys`)
  return keys
}

async function merchantKeys(count: number, tag: string): Promise<string[]> {
  if (!process.env.DATABASE_URL)
    throw new PayrailError(
      'USAGE',
      '--merchants needs DATABASE_URL (of the database the api uses) to create their keys',
    )
  return withDatabase(async (db) => {
    const keys: string[] = []
    for (let i = 0; i < count; i++)
      keys.push((await issueApiKey(db, `load-${tag}-${i}`, `load test ${tag}`)).key)
    return keys
  })
}

function modelOf(flags: LoadFlags): { model: LoadRunOptions['model']; text: string; preset?: ScenarioName } {
  const maxInFlight = countOption('--max-in-flight', flags.maxInFlight, 1, 1_000_000)
  if (flags.vus !== undefined) {
    if (flags.rate !== undefined || flags.stages !== undefined || flags.preset !== undefined)
      throw new PayrailError('USAGE', '--vus (closed model) does not go with --rate, --stages or --preset')
    const vus = countOption('--vus', flags.vus, 1, 100_000)
    const durationMs = parseDuration('--duration', flags.duration)
    return { model: { kind: 'closed', vus, durationMs }, text: `closed model, ${vus} virtual users` }
  }
  const chosen = [flags.rate, flags.stages, flags.preset].filter((v) => v !== undefined).length
  if (chosen > 1) throw new PayrailError('USAGE', 'give one of --rate, --stages and --preset')
  let stages: Stage[]
  let text: string
  let preset: ScenarioName | undefined
  if (flags.preset !== undefined) {
    const chosenPreset = presetOf(flags.preset)
    stages = chosenPreset.stages
    preset = chosenPreset.scenario
    text = `open model, preset ${flags.preset} (${chosenPreset.about})`
  } else if (flags.stages !== undefined) {
    stages = parseStages(flags.stages)
    text = `open model, stages ${flags.stages}`
  } else {
    const rate = parseRate('--rate', flags.rate ?? '100')
    stages = [{ from: rate, to: rate, durationMs: parseDuration('--duration', flags.duration) }]
    text = `open model, ${rate}/s constant`
  }
  return {
    model: { kind: 'open', schedule: new ArrivalSchedule(stages), maxInFlight },
    text,
    ...(preset === undefined ? {} : { preset }),
  }
}

export function registerLoad(program: Command): void {
  program
    .command('load-merge')
    .description(
      "several `payrail load` processes' JSON reports as one summary (counts and rates added, percentiles from the added histograms)",
    )
    .argument('<files...>', 'the JSON reports')
    .action((files: string[]) => {
      const reports = files.map((file) => {
        try {
          return JSON.parse(readFileSync(file, 'utf8')) as LoadReport
        } catch (error) {
          throw new PayrailError('USAGE', `${file}: not a readable JSON report (${(error as Error).message})`)
        }
      })
      say(summaryTable(mergeReports(reports)))
    })
  program
    .command('load')
    .description(
      "offer load to a gateway or api (open model by default: requests on a schedule, latency from each one's due time) and report it",
    )
    .argument('<scenario>', `${SCENARIOS.join(', ')}`)
    .option('--url <url>', 'the gateway or api to load, e.g. http://127.0.0.1:8080')
    .option('--rate <n>', 'iterations started per second, constant (default 100)')
    .option('--duration <d>', 'how long: 500ms, 15s, 2m', '30s')
    .option(
      '--stages <list>',
      'a ramping arrival rate: RATE/DUR or FROM-TO/DUR, comma-separated (0-400/30s,400/60s)',
    )
    .option('--preset <name>', `one of the original system's k6 runs: ${Object.keys(PRESETS).join(', ')}`)
    .option(
      '--vus <n>',
      'closed model instead: n virtual users, each starting its next iteration when its last ended',
    )
    .option(
      '--max-in-flight <n>',
      'open iterations at most; one due beyond them is dropped and counted',
      '10000',
    )
    .option('--connections <n>', 'HTTP connections at most to the target', '1024')
    .option('--timeout <d>', 'a request not answered in this long counts as timeout', '10s')
    .option('--wait-timeout <d>', 'flow: how long to wait for CAPTURED / REFUNDED', '30s')
    .option('--merchants <n>', 'create n merchants with keys in DATABASE_URL first', undefined)
    .option('--keys-file <path>', 'API keys to use, one a line (instead of --merchants)')
    .option('--declines', "allow amounts ending in the simulator's decline cents (51/52/53)")
    .option('--mix <weights>', 'mix: weights of authorize, read and flow', 'authorize=70,read=25,flow=5')
    .option(
      '--scrape <role=url>',
      "a role's base URL to scrape /metrics from during the run (repeat)",
      collect,
      [],
    )
    .option(
      '--threshold <expr>',
      "pass/fail: 'p99<300ms', 'flow.p95<2s', 'errors<0.1%', 'dropped<1%', 'rate>=390' (repeat)",
      collect,
      [],
    )
    .option(
      '--out <path>',
      'where to write <path>.json and <path>.html (default .payrail/load/<scenario>-<time>)',
    )
    .option('--seed <n>', 'seed of the amounts and draws (default: from the clock, printed)')
    .option('--no-progress', 'no live progress line')
    .option(
      '--progress-file <path>',
      'write the progress as JSON to this file once a second (replaced whole each time; the operations plane reads it)',
    )
    .action(async (scenarioText: string, flags: LoadFlags) => {
      if (!(SCENARIOS as readonly string[]).includes(scenarioText))
        throw new PayrailError(
          'USAGE',
          `scenario must be one of ${SCENARIOS.join(', ')} (got ${scenarioText})`,
        )
      const thresholds = flags.threshold.map(parseThreshold)
      if (flags.url === undefined)
        throw new PayrailError('USAGE', '--url is required (the gateway or api to load)')
      if (!/^https?:\/\/[^/\s]+\/?$/.test(flags.url))
        throw new PayrailError('USAGE', `--url must be http(s)://host:port (got ${flags.url})`)
      const { model, text, preset } = modelOf(flags)
      const scenario = scenarioText as ScenarioName
      if (preset !== undefined && preset !== scenario)
        throw new PayrailError('USAGE', `--preset ${flags.preset} runs the ${preset} scenario`)
      const scrape = flags.scrape.map(parseScrape)
      const mix = parseMix(flags.mix)
      const connections = countOption('--connections', flags.connections, 1, 100_000)
      const timeoutMs = parseDuration('--timeout', flags.timeout)
      const waitTimeoutMs = parseDuration('--wait-timeout', flags.waitTimeout)
      const seed =
        flags.seed === undefined ? Date.now() % 2 ** 31 : countOption('--seed', flags.seed, 0, 2 ** 31)
      const tag = `${Date.now().toString(36)}${process.pid.toString(36)}`
      if ((flags.merchants === undefined) === (flags.keysFile === undefined))
        throw new PayrailError('USAGE', 'give one of --merchants N (with DATABASE_URL) and --keys-file PATH')
      const keys =
        flags.keysFile !== undefined
          ? keysFromFile(flags.keysFile)
          : await merchantKeys(countOption('--merchants', flags.merchants as string, 1, 10_000), tag)
      const startedAt = new Date()
      const out =
        flags.out ??
        join(ROOT, '.payrail', 'load', `${scenario}-${startedAt.toISOString().replace(/[:.]/g, '-')}`)
      const live = flags.progress !== false && process.stderr.isTTY === true
      say(`payrail load ${scenario}: ${text}, ${keys.length} merchant(s), seed ${seed}`)
      const controller = new AbortController()
      const stop = () => controller.abort()
      process.once('SIGINT', stop)
      let run: Awaited<ReturnType<typeof runLoadTest>>
      const cpuBefore = process.cpuUsage()
      try {
        run = await runLoadTest({
          url: flags.url.replace(/\/$/, ''),
          scenario,
          keys,
          model,
          connections,
          timeoutMs,
          declines: flags.declines === true,
          mix,
          waitTimeoutMs,
          scrape,
          random: seededRandom(seed),
          tag,
          signal: controller.signal,
          onProgress: (p) => {
            if (live) process.stderr.write(`\r\x1b[2K${progressLine(p)}`)
            if (flags.progressFile !== undefined) writeProgressFile(flags.progressFile, p)
          },
        })
      } finally {
        process.removeListener('SIGINT', stop)
        if (live) process.stderr.write('\n')
      }
      const cpu = process.cpuUsage(cpuBefore)
      const base = buildReport(run, { scenario, url: flags.url, model: text, startedAt })
      const requests = Object.values(base.answers).reduce((a, b) => a + b, base.polls)
      const cpuSeconds = (cpu.user + cpu.system) / 1e6
      const report: LoadReport = {
        ...base,
        generator: { cpuSeconds, cpuMicrosPerRequest: requests === 0 ? 0 : (cpuSeconds * 1e6) / requests },
        thresholds: evaluateThresholds(thresholds, {
          steps: base.steps,
          mainStep: base.mainStep,
          errorShare: base.errorShare,
          droppedShare: base.droppedShare,
          rate: base.achievedRate,
        }),
      }
      mkdirSync(dirname(out), { recursive: true })
      writeFileSync(`${out}.json`, `${JSON.stringify(report, null, 2)}\n`)
      writeFileSync(`${out}.html`, htmlReport(report))
      say(summaryTable(report))
      say(`\nwrote ${out}.json and ${out}.html`)
      const failed = report.thresholds.filter((verdict) => !verdict.passed)
      if (failed.length > 0) {
        process.stderr.write(
          `payrail: ${failed.length} threshold(s) failed: ${failed.map((v) => v.text).join(', ')}\n`,
        )
        process.exitCode = 1
      }
    })
}
