import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { freePort } from '../../support/processes.ts'
import { throwawayDatabase } from '../helpers/databases.ts'

/** Runs `payrail <args>` with its standard output closed by the reader at once, as `| head -0` would. */
function withClosedOutput(args: string[], env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 60_000,
      })
      child.stdout.destroy()
      let stderr = ''
      child.stderr.on('data', (chunk) => {
        stderr += chunk
      })
      child.on('error', reject)
      child.on('close', (code, signal) => resolve({ code, signal, stderr }))
    },
  )
}

test('a command whose output is closed exits 0 without a stack trace', async (t) => {
  const database = await throwawayDatabase(t, 'sqlite')
  if (database === undefined) return
  const { db } = database.open()
  await migrateToLatest(db, 'sqlite')
  for (const args of [['--help'], ['outbox', 'status'], ['dlq', 'list']]) {
    const result = await withClosedOutput(args, { DATABASE_URL: database.url })
    assert.equal(result.stderr, '', `payrail ${args.join(' ')} printed to stderr`)
    assert.deepEqual([result.code, result.signal], [0, null], `payrail ${args.join(' ')}`)
  }
})

test('a role whose output is closed stops as on SIGTERM and exits 0', async () => {
  const port = await freePort()
  const result = await withClosedOutput(['acquirer'], { ACQUIRER_PORT: String(port), LOG_FORMAT: 'json' })
  assert.doesNotMatch(result.stderr, /EPIPE|Error/)
  assert.deepEqual([result.code, result.signal], [0, null])
})
