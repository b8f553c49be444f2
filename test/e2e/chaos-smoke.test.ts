import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { ROOT } from '../../src/cli/context.ts'
import { requireService } from '../helpers/services.ts'

const run = promisify(execFile)

test('payrail chaos (the smoke): kill -9 of each role and a 10 s broker stop under flow load keep every invariant', {
  timeout: 230_000,
}, async (t) => {
  // The run starts its own broker from the cached jars; the service check fails CI without Kafka's tooling.
  if ((await requireService(t, 'kafka')) === undefined) return
  const dir = mkdtempSync(join(tmpdir(), 'payrail-chaos-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'chaos.json')
  const html = join(dir, 'chaos.html')
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
      '--html',
      html,
    ],
    { env: process.env, timeout: 220_000 },
  ).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`payrail chaos failed:\n${error.stdout}\n${error.stderr}`)
  })
  t.diagnostic(stdout)
  const report = JSON.parse(readFileSync(out, 'utf8')) as {
    passed: boolean
    scenarios: {
      scenario: string
      timeline: { what: string }[]
      invariants: { name: string; passed: boolean; figures: Record<string, number> }[]
    }[]
  }
  const [smoke] = report.scenarios
  assert.equal(smoke?.scenario, 'smoke')
  assert.equal(
    smoke.timeline.filter((step) => step.what.startsWith('kill -9')).length,
    6,
    'five roles and the broker',
  )
  assert.deepEqual(
    smoke.invariants.map((i) => [i.name, i.passed]),
    [
      ['acknowledged-persisted', true],
      ['not-doubled', true],
      ['events-delivered', true],
      ['events-ordered', true],
      ['payments-final', true],
      ['ledger-clean', true],
      ['drained', true],
      ['documented-answers', true],
      ['breaker-rode-out', true],
      ['roles-survived', true],
    ],
  )
  const figures = Object.fromEntries(smoke.invariants.map((i) => [i.name, i.figures]))
  // It had its chance: the load was acknowledged, not refused throughout, and events flowed.
  assert.ok((figures['acknowledged-persisted']?.acknowledged ?? 0) > 20)
  assert.ok((figures['events-delivered']?.delivered ?? 0) > 50)
  assert.ok((figures['not-doubled']?.references ?? 0) > 0, 'the acquirer journal was read')
  assert.equal(report.passed, true)
  assert.match(readFileSync(html, 'utf8'), /smoke: answers by status and code[\s\S]*<svg/)
})
