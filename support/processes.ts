import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ReferenceLedger } from '../src/acquirer/protocol.ts'
import { ROOT } from '../src/cli/context.ts'

import { freePort } from '../src/runtime/ports.ts'

export { freePort, freePorts } from '../src/runtime/ports.ts'

export interface RoleProcess {
  url: string
  child: ChildProcess
  /** Everything the process wrote, for assertions and for failure messages. */
  output: () => string
  /** Sends the signal and waits for the exit. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/** Everything `child` writes to stdout and stderr, so far, for assertions and failure messages. */
export function collectOutput(child: ChildProcess): () => string {
  let output = ''
  const append = (chunk: Buffer | string) => {
    output += chunk
  }
  child.stdout?.on('data', append)
  child.stderr?.on('data', append)
  return () => output
}

/** Starts `payrail <role>` as its own process and waits until its /healthz answers. */
export async function startRole(
  role: string,
  port: number,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<RoleProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), role], {
    cwd: ROOT,
    env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = collectOutput(child)
  const exited = once(child, 'exit')
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`payrail ${role} exited with ${child.exitCode}:\n${output()}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`payrail ${role} did not answer /healthz within ${timeoutMs} ms:\n${output()}`)
    }
    const healthy = await fetch(`${url}/healthz`).then(
      (response) => response.ok,
      () => false,
    )
    if (healthy) break
    await sleep(100)
  }
  return {
    url,
    child,
    output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const [code] = await exited
      return code as number | null
    },
  }
}

/** The simulator's admin token in the tests (its `/admin/mode` refuses requests without one). */
export const ACQUIRER_ADMIN_TOKEN = 'test-acquirer-admin-token-0123456789'

/** The acquirer simulator as a real process, fast and error-free unless a test switches its mode. */
export async function startAcquirer(env: Record<string, string> = {}): Promise<RoleProcess> {
  const port = await freePort()
  return startRole('acquirer', port, {
    ACQUIRER_PORT: String(port),
    ACQUIRER_AUTH_LATENCY_MS: '0-2',
    ACQUIRER_SETTLE_LATENCY_MS: '0-2',
    ACQUIRER_AUTH_FAILURE_RATE: '0',
    ACQUIRER_SETTLE_FAILURE_RATE: '0',
    ACQUIRER_ADMIN_TOKEN: ACQUIRER_ADMIN_TOKEN,
    ...env,
  })
}

export async function setAcquirerMode(
  acquirerUrl: string,
  mode: string,
  slowExtraMs?: number,
): Promise<void> {
  const response = await fetch(`${acquirerUrl}/admin/mode`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ACQUIRER_ADMIN_TOKEN}` },
    body: JSON.stringify(slowExtraMs === undefined ? { mode } : { mode, slowExtraMs }),
  })
  if (!response.ok)
    throw new Error(`could not set acquirer mode: ${response.status} ${await response.text()}`)
}

/** What the simulator process did per reference since its ledger was last reset. */
export async function acquirerLedger(acquirerUrl: string): Promise<Record<string, ReferenceLedger>> {
  const response = await fetch(`${acquirerUrl}/admin/authorizations`, {
    headers: { authorization: `Bearer ${ACQUIRER_ADMIN_TOKEN}` },
  })
  if (!response.ok) throw new Error(`could not read the acquirer ledger: ${response.status}`)
  return (await response.json()) as Record<string, ReferenceLedger>
}

/** Starts the simulator's per-reference count afresh (its remembered results stay). */
export async function resetAcquirerLedger(acquirerUrl: string): Promise<void> {
  const response = await fetch(`${acquirerUrl}/admin/authorizations`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ACQUIRER_ADMIN_TOKEN}` },
  })
  if (!response.ok) throw new Error(`could not reset the acquirer ledger: ${response.status}`)
}
