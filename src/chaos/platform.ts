/**
 * The platform a chaos run owns: each role as `payrail <role>` on its own spare port, killed with
 * SIGKILL and started again on the same port and environment, so a restart is what a crash looks
 * like to the others. Each role's output goes to `<logDir>/<role>.log` (every start appended), and
 * a role that exits without being killed is recorded: a role must ride out a fault, not die of it.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stopChild } from '../runtime/stop-child.ts'
import { until } from '../runtime/until.ts'

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.ts')

export const ROLES = ['acquirer', 'api', 'relay', 'worker', 'gateway'] as const
export type Role = (typeof ROLES)[number]

interface Running {
  child: ChildProcess
  exited: Promise<unknown>
  killed: boolean
  log: WriteStream
}

/** A role that exited on its own. */
export interface UnexpectedExit {
  role: Role
  code: number | null
  signal: string | null
  /** Epoch ms. */
  at: number
}

export class ChaosPlatform {
  readonly #running = new Map<Role, Running>()
  readonly ports: Record<Role, number>
  readonly env: NodeJS.ProcessEnv
  readonly logDir: string
  readonly unexpectedExits: UnexpectedExit[] = []

  constructor(ports: Record<Role, number>, env: NodeJS.ProcessEnv, logDir: string) {
    this.ports = ports
    this.env = env
    this.logDir = logDir
  }

  url(role: Role): string {
    return `http://127.0.0.1:${this.ports[role]}`
  }

  logFile(role: Role): string {
    return join(this.logDir, `${role}.log`)
  }

  /** Starts `role` and waits until its /healthz answers. */
  async start(role: Role, timeoutMs = 60_000): Promise<void> {
    const child = spawn(process.execPath, [MAIN, role], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    const log = createWriteStream(this.logFile(role), { flags: 'a' })
    log.write(`--- payrail ${role} started at ${new Date().toISOString()} (pid ${child.pid})\n`)
    child.stdout?.pipe(log, { end: false })
    child.stderr?.pipe(log, { end: false })
    const running: Running = { child, exited: once(child, 'exit'), killed: false, log }
    child.on('exit', (code, signal) => {
      if (!running.killed) this.unexpectedExits.push({ role, code, signal, at: Date.now() })
      log.end(`--- exited (code ${code}, signal ${signal})\n`)
    })
    this.#running.set(role, running)
    await until(
      `payrail ${role} to answer /healthz (see ${this.logFile(role)})`,
      async () => {
        if (child.exitCode !== null)
          throw new Error(
            `payrail ${role} exited with ${child.exitCode} while starting; see ${this.logFile(role)}`,
          )
        return fetch(`${this.url(role)}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      },
      { timeoutMs, intervalMs: 100 },
    )
  }

  /** Whether `role` runs now (started, not exited). */
  running(role: Role): boolean {
    const running = this.#running.get(role)
    return running !== undefined && running.child.exitCode === null && running.child.signalCode === null
  }

  /** `kill -9`: no drain, no goodbye. */
  async kill(role: Role): Promise<void> {
    const running = this.#running.get(role)
    if (running === undefined) return
    running.killed = true
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGKILL')
    await running.exited
  }

  async stopAll(graceMs = 20_000): Promise<void> {
    for (const role of [...ROLES].reverse()) {
      const running = this.#running.get(role)
      if (running === undefined) continue
      running.killed = true
      await stopChild(running.child, running.exited, graceMs)
    }
  }
}
