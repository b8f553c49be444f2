import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { collectOutput } from '../../support/processes.ts'
import { until } from './until.ts'

export interface UpProcess {
  child: ChildProcess
  output: () => string
  exited: Promise<unknown[]>
}

/**
 * `payrail up` with `args` in `cwd` and `env`, in a process group of its own (a failed test
 * kills up and every role it started, none left behind holding the pipes); resolves once up
 * printed that everything is ready.
 */
export async function startUp(
  t: TestContext,
  cwd: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<UpProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), 'up', ...args], {
    cwd,
    env: { ...process.env, LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const output = collectOutput(child)
  const exited = once(child, 'exit')
  t.after(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL')
    } catch (error) {
      // Already gone with all its roles, as after a clean stop.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
    }
  })
  await until(
    'payrail up is ready',
    () => {
      assert.ok(child.exitCode === null, `up exited early:\n${output()}`)
      return output().includes('Press Ctrl-C to stop.')
    },
    { timeoutMs: 60_000 },
  )
  return { child, output, exited }
}
