/**
 * Load runs started from the operations plane: each is `payrail load <scenario> --rate --duration`
 * against the gateway as a child process, one at a time. A run lives in a directory of its own
 * under `dir` (LOAD_RUN_DIR): `run.json` (what was asked, its state), `progress.json` (written by
 * the child once a second, `--progress-file`), `report.json` and `report.html` (the child's
 * `--out`). Files rather than the database: the reports are the files `payrail load` writes
 * anyway (the JSON of a 5-minute run is hundreds of KB of per-second samples and histograms, more
 * than a row should hold on MariaDB's default packet size), they belong to the machine that ran
 * the child, and they survive a restart of the api as they are. A run still marked running when
 * an api starts was cut short by the previous one's end: it is marked failed (or finished, when
 * its report was written).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PayrailError } from '../domain/errors.ts'
import { newId } from '../domain/ids.ts'
import { stopChild } from '../runtime/stop-child.ts'
import { until } from '../runtime/until.ts'

export const LOAD_SCENARIOS = ['authorize', 'flow', 'read', 'mix'] as const
export type LoadScenario = (typeof LOAD_SCENARIOS)[number]

export interface LoadProgress {
  elapsedSeconds: number
  totalSeconds: number
  requests: number
  targetRate: number
  achievedRate: number
  p50Ms: number
  p99Ms: number
  errors: number
  dropped: number
}

export type LoadRunStatus = 'running' | 'finished' | 'failed' | 'stopped'

export interface LoadRun {
  id: string
  scenario: LoadScenario
  rate: number
  durationSeconds: number
  status: LoadRunStatus
  startedAt: string
  endedAt: string | null
  progress: LoadProgress | null
  error: string | null
  hasReport: boolean
}

export interface LoadRunsOptions {
  /** Where runs are kept. Default: none, give it (LOAD_RUN_DIR, `.payrail/load-runs`). */
  dir: string
  /** The gateway the runs load. */
  targetUrl: string
  /** DATABASE_URL of the api: `payrail load --merchants 1` creates the run's merchant and key there. */
  databaseUrl: string
  /** Default: 500 (LOAD_RUN_MAX_RATE). */
  maxRate?: number
  /** Default: 300 (LOAD_RUN_MAX_DURATION_SECONDS). */
  maxDurationSeconds?: number
  /** Runs listed at most (newest first). Default: 50. */
  maxListed?: number
  /** Environment of the child beside DATABASE_URL. Default: process.env. */
  env?: NodeJS.ProcessEnv
  /** Default: Date.now. */
  now?: () => number
}

/** The CLI the children run: the same checkout as this api. */
const CLI = fileURLToPath(new URL('../cli/main.ts', import.meta.url))
/** The child's output kept to explain a failure: its last lines. */
const OUTPUT_KEPT = 4000
/** A stopped child writes its report first; past this it is killed. */
const STOP_GRACE_MS = 15_000

/** A run as run.json holds it: with the child's pid, so any api process can tell whether it still runs. */
type StoredRun = LoadRun & { pid?: number }

/** Written into a run's directory by a stop, so the process that owns the child records `stopped`. */
const STOP_MARK = 'stop-requested'

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value))
  renameSync(`${path}.tmp`, path)
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T
  } catch {
    return undefined
  }
}

export class LoadRuns {
  readonly #options: Required<Omit<LoadRunsOptions, 'env'>> & { env: NodeJS.ProcessEnv }
  #running: { id: string; child: ChildProcess; exited: Promise<unknown> } | undefined

  constructor(options: LoadRunsOptions) {
    this.#options = {
      maxRate: 500,
      maxDurationSeconds: 300,
      maxListed: 50,
      env: process.env,
      now: Date.now,
      ...options,
    }
    // Nothing is created before the first run: an api on a read-only file system starts as well.
    for (const run of this.#stored()) {
      if (run.status !== 'running' || isAlive(run.pid)) continue
      const finished = readJson(join(this.#dirOf(run.id), 'report.json')) !== undefined
      this.#save({
        ...run,
        status: finished ? 'finished' : 'failed',
        endedAt: run.endedAt ?? new Date(this.#options.now()).toISOString(),
        error: finished ? null : 'the api that ran it stopped before the run ended',
      })
    }
  }

  /** Starts a run; LOAD_RUN_IN_PROGRESS while one runs, VALIDATION_FAILED beyond the limits. */
  start(request: { scenario: LoadScenario; rate: number; duration: number }): LoadRun {
    const { maxRate, maxDurationSeconds } = this.#options
    if (!LOAD_SCENARIOS.includes(request.scenario))
      throw new PayrailError('VALIDATION_FAILED', `scenario must be one of ${LOAD_SCENARIOS.join(', ')}`)
    if (!(request.rate > 0 && request.rate <= maxRate))
      throw new PayrailError(
        'VALIDATION_FAILED',
        `rate must be above 0 and at most ${maxRate} (LOAD_RUN_MAX_RATE)`,
      )
    if (
      !(Number.isInteger(request.duration) && request.duration >= 1 && request.duration <= maxDurationSeconds)
    )
      throw new PayrailError(
        'VALIDATION_FAILED',
        `duration must be 1 to ${maxDurationSeconds} seconds (LOAD_RUN_MAX_DURATION_SECONDS)`,
      )
    // The files, not this process's memory, say whether one runs: with `--scale api=N` the
    // gateway sends each request to any api process, and they share LOAD_RUN_DIR.
    const busy = this.#running?.id ?? this.#stored().find((r) => r.status === 'running' && isAlive(r.pid))?.id
    if (busy !== undefined)
      throw new PayrailError('LOAD_RUN_IN_PROGRESS', `load run ${busy} is still running`)
    const id = newId().toLowerCase()
    const dir = this.#dirOf(id)
    mkdirSync(dir, { recursive: true })
    const run: LoadRun = {
      id,
      scenario: request.scenario,
      rate: request.rate,
      durationSeconds: request.duration,
      status: 'running',
      startedAt: new Date(this.#options.now()).toISOString(),
      endedAt: null,
      progress: null,
      error: null,
      hasReport: false,
    }
    this.#save(run)
    const child = spawn(
      process.execPath,
      [
        CLI,
        'load',
        request.scenario,
        '--url',
        this.#options.targetUrl,
        '--rate',
        String(request.rate),
        '--duration',
        `${request.duration}s`,
        '--merchants',
        '1',
        '--no-progress',
        '--progress-file',
        join(dir, 'progress.json'),
        '--out',
        join(dir, 'report'),
      ],
      {
        env: { ...this.#options.env, DATABASE_URL: this.#options.databaseUrl, LOG_FORMAT: 'json' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const exited = once(child, 'close')
    const running = { id, child, exited }
    this.#running = running
    if (child.pid !== undefined) this.#save({ ...run, pid: child.pid })
    exited.then(
      ([code, signal]) => this.#ended(id, code as number | null, signal, output),
      (error: unknown) => this.#ended(id, null, null, String(error)),
    )
    child.on('error', (error) => keep(Buffer.from(`\n${error.message}`)))
    return run
  }

  #ended(id: string, code: number | null, signal: unknown, output: string): void {
    if (this.#running?.id === id) this.#running = undefined
    const run = this.#read(id)
    if (run === undefined) return
    const stopRequested = existsSync(join(this.#dirOf(id), STOP_MARK))
    const hasReport = readJson(join(this.#dirOf(id), 'report.json')) !== undefined
    const status: LoadRunStatus = stopRequested ? 'stopped' : code === 0 && hasReport ? 'finished' : 'failed'
    // The child's own words for the failure (its usage error, the refused merchant), never its env.
    const error =
      status === 'failed'
        ? `payrail load exited with ${code ?? signal}: ${output.trim().split('\n').slice(-5).join(' | ')}`
        : null
    this.#save({ ...run, status, endedAt: new Date(this.#options.now()).toISOString(), error })
  }

  /** Stops a running run (the child writes its report of what ran, then exits); NOT_FOUND for an unknown id. */
  async stop(id: string): Promise<LoadRun> {
    const run = this.#read(id)
    if (run === undefined) throw new PayrailError('NOT_FOUND', `no load run ${id}`)
    if (run.status !== 'running') return this.get(id)
    writeFileSync(join(this.#dirOf(id), STOP_MARK), '')
    const running = this.#running
    if (running !== undefined && running.id === id) {
      // SIGINT: `payrail load` ends the schedule early and still writes its report.
      running.child.kill('SIGINT')
      await stopChild(running.child, running.exited, STOP_GRACE_MS)
      await running.exited
    } else if (isAlive(run.pid)) {
      // Another api process (`--scale api=N`) runs it: it records the end when its child exits.
      process.kill(run.pid as number, 'SIGINT')
      await until(`load run ${id} to stop`, () => this.get(id).status !== 'running', {
        timeoutMs: STOP_GRACE_MS + 5000,
        intervalMs: 100,
      })
    }
    return this.get(id)
  }

  /** Every run kept, newest first (at most maxListed), without reports. */
  list(): LoadRun[] {
    return this.#stored()
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
      .slice(0, this.#options.maxListed)
      .map((run) => this.#withProgress(run))
  }

  /** One run with its live progress; NOT_FOUND for an unknown id. */
  get(id: string): LoadRun {
    const run = this.#read(id)
    if (run === undefined) throw new PayrailError('NOT_FOUND', `no load run ${id}`)
    return this.#withProgress(run)
  }

  /** The run's JSON report, or undefined before it is written. */
  report(id: string): unknown {
    this.get(id)
    return readJson(join(this.#dirOf(id), 'report.json'))
  }

  /** The run's HTML report; NOT_FOUND before it is written. */
  reportHtml(id: string): string {
    this.get(id)
    try {
      return readFileSync(join(this.#dirOf(id), 'report.html'), 'utf8')
    } catch {
      throw new PayrailError('NOT_FOUND', `load run ${id} has no report (yet)`)
    }
  }

  /** Stops the run in progress, if any (the api is stopping). */
  async close(): Promise<void> {
    const running = this.#running
    if (running !== undefined) await this.stop(running.id)
  }

  #withProgress({ pid: _pid, ...run }: StoredRun): LoadRun {
    const dir = this.#dirOf(run.id)
    return {
      ...run,
      progress: readJson<LoadProgress>(join(dir, 'progress.json')) ?? null,
      hasReport: readJson(join(dir, 'report.json')) !== undefined,
    }
  }

  #dirOf(id: string): string {
    if (!/^[0-9a-z-]{1,64}$/.test(id)) throw new PayrailError('NOT_FOUND', `no load run ${id}`)
    return join(this.#options.dir, id)
  }

  #read(id: string): StoredRun | undefined {
    return readJson<StoredRun>(join(this.#dirOf(id), 'run.json'))
  }

  #save(run: StoredRun): void {
    writeJson(join(this.#dirOf(run.id), 'run.json'), run)
  }

  #stored(): StoredRun[] {
    if (!existsSync(this.#options.dir)) return []
    return readdirSync(this.#options.dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && /^[0-9a-z-]{1,64}$/.test(entry.name))
      .flatMap((entry) => readJson<StoredRun>(join(this.#options.dir, entry.name, 'run.json')) ?? [])
  }
}
