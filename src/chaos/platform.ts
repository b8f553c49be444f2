/**
 * The platform a chaos run owns: each role as `payrail <role>` on its own spare port, killed with
 * SIGKILL and started again on the same port and environment, so a restart is what a crash looks
 * like to the others.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { stopChild } from '../runtime/stop-child.ts'

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.ts')

export const ROLES = ['acquirer', 'api', 'relay', 'worker', 'gateway'] as const
export type Role = (typeof ROLES)[number]

interface Running {
  child: ChildProcess
  exited: Promise<unknown>
  output: string[]
}

export class ChaosPlatform {
  readonly #running = new Map<Role, Running>()
  readonly ports: Record<Role, number>
  readonly env: NodeJS.ProcessEnv

  constructor(ports: Record<Role, number>, env: NodeJS.ProcessEnv) {
    this.ports = ports
    this.env = env
  }

  url(role: Role): string {
    return `http://127.0.0.1:${this.ports[role]}`
  }

  /** Starts `role` and waits until its /healthz answers. */
  async start(role: Role, timeoutMs = 60_000): Promise<void> {
    const child = spawn(process.execPath, [MAIN, role], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    // The last lines only: enough to say why a role would not start, bounded over a long run.
    const output: string[] = []
    const keep = (chunk: Buffer) => {
      output.push(String(chunk))
      if (output.length > 50) output.shift()
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    this.#running.set(role, { child, exited: once(child, 'exit'), output })
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`payrail ${role} exited with ${child.exitCode} while starting:\n${output.join('')}`)
      const healthy = await fetch(`${this.url(role)}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
      if (healthy) return
      if (Date.now() > deadline)
        throw new Error(`payrail ${role} did not answer /healthz in time:\n${output.join('')}`)
      await sleep(100)
    }
  }

  /** `kill -9`: no drain, no goodbye. */
  async kill(role: Role): Promise<void> {
    const running = this.#running.get(role)
    if (running === undefined) return
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGKILL')
    await running.exited
  }

  async stopAll(graceMs = 20_000): Promise<void> {
    for (const role of [...ROLES].reverse()) {
      const running = this.#running.get(role)
      if (running !== undefined) await stopChild(running.child, running.exited, graceMs)
    }
  }
}
