import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { collectOutput, freePort } from '../../support/processes.ts'
import { until } from './until.ts'

export type UpProcess = CliProcess

export interface CliProcess {
  child: ChildProcess
  output: () => string
  exited: Promise<unknown[]>
}

/**
 * `payrail <args>` in `cwd` with `env` added, in a process group of its own: a failed test kills
 * the command and every process it started (roles, servers), none left behind holding the pipes.
 */
export function spawnCli(
  t: TestContext,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): CliProcess {
  const child = spawn(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
    cwd: options.cwd,
    env: { ...process.env, LOG_FORMAT: 'json', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const output = collectOutput(child)
  const exited = once(child, 'exit')
  t.after(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL')
    } catch (error) {
      // Already gone with all it started, as after a clean stop.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
    }
  })
  return { child, output, exited }
}

/** `payrail up` with `args` in `cwd` and `env` (see `spawnCli`); resolves once up printed that everything is ready. */
export async function startUp(
  t: TestContext,
  cwd: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<UpProcess> {
  // The dashboard's port too, so that no two platforms of the tests want the default 5173.
  const dashboardPort = env.DASHBOARD_PORT ?? String(await freePort())
  const up = spawnCli(t, ['up', ...args], { cwd, env: { ...env, DASHBOARD_PORT: dashboardPort } })
  await until(
    'payrail up is ready',
    () => {
      assert.ok(up.child.exitCode === null, `up exited early:\n${up.output()}`)
      return up.output().includes('Press Ctrl-C to stop.')
    },
    // Six role processes (with the notifier), each started after the previous one answers:
    // two `payrail up` tests at once on two cores took over 60 s.
    { timeoutMs: 120_000 },
  )
  return up
}
