import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { test } from 'node:test'
import { collectOutput } from '../../support/processes.ts'
import { until } from '../helpers/until.ts'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'slow-start-role.ts')

async function stopWhileStarting(wait: string) {
  const child = spawn(process.execPath, [FIXTURE, wait], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk) => {
    output += chunk
  })
  child.stderr.on('data', (chunk) => {
    output += chunk
  })
  const exited = once(child, 'exit')
  await until('the role to be starting', () => output.includes('starting'), { timeoutMs: 20_000 })
  const signalledAt = Date.now()
  child.kill('SIGTERM')
  const [code] = (await exited) as [number | null]
  return { code, output, ms: Date.now() - signalledAt }
}

test('a SIGTERM while a role starts: it closes once started, or exits after 5 s if the start does not end', {
  timeout: 60_000,
}, async () => {
  const slow = await stopWhileStarting('1500')
  assert.equal(slow.code, 0, slow.output)
  assert.match(slow.output, /closed/, 'started, then closed cleanly')
  const never = await stopWhileStarting('never')
  assert.equal(never.code, 0, never.output)
  assert.match(never.output, /had not started 5000 ms after SIGTERM; exiting/)
  assert.ok(never.ms >= 4900 && never.ms < 15_000, `exited ${never.ms} ms after the signal`)
})

test('a role that fails to start exits 1 naming the problem, even with something it started still running', {
  timeout: 60_000,
}, async () => {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'failing-start-role.ts')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = collectOutput(child)
  const exited = once(child, 'exit')
  const code = await until('the role to exit', () => (child.exitCode === null ? false : child.exitCode), {
    timeoutMs: 20_000,
  }).catch((error: Error) => {
    child.kill('SIGKILL')
    throw new Error(`${error.message}; it printed:\n${output()}`)
  })
  await exited
  assert.equal(code, 1, output())
  assert.match(output(), /payrail: listen EADDRINUSE: address already in use 127\.0\.0\.1:9464/)
})
