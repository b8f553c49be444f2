import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { ROOT } from '../../src/cli/context.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { requireService } from '../helpers/services.ts'

const run = promisify(execFile)

test('payrail chaos: kill -9 of each role under flow load keeps every invariant', {
  timeout: 180_000,
}, async (t) => {
  if ((await requireService(t, 'kafka')) === undefined) return
  // A private broker: on the shared one other tests' workers may join the same consumer groups.
  const brokers = await privateBroker(t)
  const dir = mkdtempSync(join(tmpdir(), 'payrail-chaos-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'chaos.json')
  const seed = process.env.PAYRAIL_TEST_SEED ?? String(Math.floor(Math.random() * 2 ** 31))
  t.diagnostic(`seed ${seed}`)
  const { stdout } = await run(
    process.execPath,
    [
      join(ROOT, 'src', 'cli', 'main.ts'),
      'chaos',
      '--rate',
      '5',
      '--duration',
      '20s',
      '--seed',
      seed,
      '--out',
      out,
    ],
    { env: { ...process.env, KAFKA_BROKERS: brokers }, timeout: 170_000 },
  ).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`payrail chaos failed:\n${error.stdout}\n${error.stderr}`)
  })
  t.diagnostic(stdout)
  const result = JSON.parse(readFileSync(out, 'utf8')) as {
    passed: boolean
    kills: unknown[]
    invariants: { name: string; passed: boolean; figures: Record<string, number> }[]
  }
  assert.equal(result.kills.length, 5)
  assert.deepEqual(
    result.invariants.map((i) => [i.name, i.passed]),
    [
      ['acknowledged-persisted', true],
      ['payments-final', true],
      ['ledger-clean', true],
      ['outbox-drained', true],
      ['documented-answers', true],
    ],
  )
  // It had its chance: the load was acknowledged, not refused throughout.
  assert.ok((result.invariants[0]?.figures.acknowledged ?? 0) > 20)
  assert.equal(result.passed, true)
})
