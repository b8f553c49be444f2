import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
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

  /** Called when a role exits while nobody asked it to. */
  onUnexpectedExit: (role: string, code: number | null) => void = () => {}

  async start(spec: RoleSpec, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<void> {
    const child = spawn(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), spec.role], {
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    const exited = once(child, 'exit')
    this.#children.push({ spec, process: child, exited })
    child.on('exit', (code) => {
      if (!this.#stopping) this.onUnexpectedExit(spec.role, code)
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
