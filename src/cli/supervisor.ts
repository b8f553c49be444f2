import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PayrailError } from '../domain/errors.ts'
import { stopChild } from '../runtime/stop-child.ts'
import { ROOT } from './context.ts'

export interface RoleSpec {
  /** The CLI subcommand, e.g. `api`. */
  role: string
  /** Where its /healthz answers once it is up. */
  url: string
}

interface Child {
  spec: RoleSpec
  process: ChildProcess
  exited: Promise<unknown>
}

/**
 * Runs roles as child processes of `payrail up` (each one exactly as `payrail <role>` would run
 * alone), waits until each answers /healthz, and stops them all with SIGTERM, so that every
 * role finishes its accepted work the way it does in production.
 */
export class Supervisor {
  readonly #children: Child[] = []
  #stopping = false

  #unexpected: string | undefined
  #onUnexpected: ((reason: string) => void) | undefined

  /**
   * Resolves with the reason once a role exits while nobody asked it to, at once if one already
   * did (a role may die before the caller starts listening, e.g. while later roles start).
   */
  unexpectedExit(): Promise<string> {
    if (this.#unexpected !== undefined) return Promise.resolve(this.#unexpected)
    return new Promise((resolve) => {
      this.#onUnexpected = resolve
    })
  }

  async start(spec: RoleSpec, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<void> {
    // Another process answering /healthz on the role's port would pass for the role while the
    // role itself dies of EADDRINUSE (seen with two platforms on one port set).
    const { hostname, port } = new URL(spec.url)
    if (await listening(hostname, Number(port)))
      throw new PayrailError(
        'PORT_IN_USE',
        `payrail ${spec.role} cannot start: another process listens on ${hostname}:${port}; stop it or set another port`,
      )
    const child = spawn(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), spec.role], {
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    const exited = once(child, 'exit')
    this.#children.push({ spec, process: child, exited })
    child.on('exit', (code) => {
      if (this.#stopping || this.#unexpected !== undefined) return
      this.#unexpected = `payrail ${spec.role} exited unexpectedly (code ${code})`
      this.#onUnexpected?.(this.#unexpected)
    })
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (child.exitCode !== null) {
        throw new PayrailError(
          'INTERNAL',
          `payrail ${spec.role} exited with code ${child.exitCode} while starting`,
        )
      }
      const healthy = await fetch(`${spec.url}/healthz`).then(
        (response) => response.ok,
        () => false,
      )
      if (healthy) return
      if (Date.now() > deadline)
        throw new PayrailError('INTERNAL', `payrail ${spec.role} did not answer ${spec.url}/healthz in time`)
      await sleep(100)
    }
  }

  /** SIGTERM to every role in reverse start order; SIGKILL for one that outlives the grace period. */
  async stopAll(graceMs = 30_000): Promise<void> {
    this.#stopping = true
    for (const child of [...this.#children].reverse()) await stopChild(child.process, child.exited, graceMs)
  }
}

/** Whether something accepts TCP connections at host:port (refused or unreachable: no). */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: host.replace(/^\[|\]$/g, ''), port, timeout: 1000 })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(false))
  })
}
