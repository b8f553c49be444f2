import assert from 'node:assert/strict'
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { readAcquirerJournal } from '../../src/acquirer/journal.ts'
import { buildAcquirerSimulator } from '../../src/acquirer/simulator.ts'
import { loadConfig } from '../../src/config/load.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createMetricsRegistry } from '../../src/observability/metrics.ts'
import { acquirerLedger, type RoleProcess, startAcquirer } from '../../support/processes.ts'

const TIMEOUT = { timeout: 60_000 }

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'payrail-journal-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function call(url: string, path: string, body: object): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: await response.json() }
}

/** Regular files the process holds open (its journal, if any): what it could be writing to. */
function openFiles(process: RoleProcess): string[] {
  const dir = `/proc/${process.child.pid}/fd`
  return readdirSync(dir)
    .map((fd) => {
      try {
        return readlinkSync(join(dir, fd))
      } catch {
        return '' // closed between the listing and the read
      }
    })
    .filter((target) => target.startsWith('/') && !target.startsWith('/dev/'))
}

function capturingLogger() {
  const lines: string[] = []
  const logger = createLogger({
    role: 'acquirer',
    format: 'json',
    stream: new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    }),
  })
  return { logger, lines }
}

function simulator(journalFile: string | undefined, logger = capturingLogger().logger) {
  return buildAcquirerSimulator({
    authLatencyMs: { min: 0, max: 0 },
    settleLatencyMs: { min: 0, max: 0 },
    authFailureRate: 0,
    settleFailureRate: 0,
    journalFile,
    now: () => Date.parse('2030-01-02T03:04:05.000Z'),
    logger,
    registry: createMetricsRegistry('acquirer'),
  })
}

const line = (entry: object) => `${JSON.stringify({ time: '2030-01-02T03:04:05.000Z', ...entry })}\n`

test(
  'the journal survives a SIGKILL: the restarted simulator answers a repeated settle from memory and counts it once',
  TIMEOUT,
  async (t) => {
    const file = join(scratch(t), 'acquirer.jsonl')
    const first = await startAcquirer({ ACQUIRER_JOURNAL_FILE: file })
    t.after(() => first.stop('SIGKILL'))
    assert.deepEqual(openFiles(first), [file], 'the journal is the one file it writes')
    const authorized = await call(first.url, '/v1/authorizations', {
      reference: 'k-1',
      amount: 1000,
      currency: 'USD',
    })
    assert.equal(authorized.status, 200)
    // 52 cents: the settle fails (card_closed); a recomputed settle of 1000 would succeed instead.
    const settled = await call(first.url, '/v1/settlements', {
      reference: 'k-1',
      amount: 1052,
      currency: 'USD',
    })
    assert.deepEqual(settled, {
      status: 200,
      body: { reference: 'k-1', settled: false, failureReason: 'card_closed' },
    })
    const refunded = await call(first.url, '/v1/refunds', { reference: 'k-1', amount: 1000, currency: 'USD' })
    assert.deepEqual(refunded.body, { reference: 'k-1', refunded: true, failureReason: null })
    assert.equal(await first.stop('SIGKILL'), null, 'killed, not exited')

    const second = await startAcquirer({ ACQUIRER_JOURNAL_FILE: file })
    t.after(() => second.stop('SIGKILL'))
    const again = { reference: 'k-1', amount: 1000, currency: 'USD' }
    assert.deepEqual(await call(second.url, '/v1/settlements', again), settled, 'the memorized settle')
    assert.deepEqual(
      await call(second.url, '/v1/refunds', { ...again, amount: 1053 }),
      refunded,
      'the memorized refund',
    )
    assert.deepEqual(
      await call(second.url, '/v1/authorizations', { ...again, amount: 1051 }),
      authorized,
      'the memorized approval',
    )
    // The replayed approval is there to void.
    assert.deepEqual((await call(second.url, '/v1/voids', { reference: 'k-1' })).body, {
      reference: 'k-1',
      voided: true,
    })
    assert.deepEqual((await call(second.url, '/v1/voids', { reference: 'k-1' })).body, {
      reference: 'k-1',
      voided: true,
    })
    assert.deepEqual(await acquirerLedger(second.url), {
      'k-1': { authorized: 1, approved: true, voided: true, settled: 1, refunded: 1 },
    })
    assert.deepEqual(
      await readAcquirerJournal(file),
      new Map([['k-1', { authorized: 1, settled: 1, refunded: 1, voided: 1 }]]),
    )
    const lines = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((text) => JSON.parse(text))
    assert.deepEqual(
      lines.map(({ operation, outcome, amount }) => [operation, outcome, amount]),
      [
        ['authorize', 'approved', 1000],
        ['settle', 'failed', 1052],
        ['refund', 'refunded', 1000],
        ['void', 'voided', null],
      ],
    )
    for (const entry of lines) assert.ok(!Number.isNaN(Date.parse(entry.time)), `time ${entry.time}`)
  },
)

test(
  'without ACQUIRER_JOURNAL_FILE nothing is written and a restarted simulator has forgotten',
  TIMEOUT,
  async (t) => {
    assert.equal(loadConfig({ env: {}, envFile: '/nonexistent/.env' }).ACQUIRER_JOURNAL_FILE, undefined)
    const first = await startAcquirer({ ACQUIRER_JOURNAL_FILE: '' })
    t.after(() => first.stop('SIGKILL'))
    const body = { reference: 'm-1', amount: 1052, currency: 'USD' }
    assert.equal((await call(first.url, '/v1/settlements', body)).status, 200)
    assert.deepEqual(openFiles(first), [], 'no file open for writing')
    await first.stop('SIGKILL')
    const second = await startAcquirer()
    t.after(() => second.stop('SIGKILL'))
    const repeated = await call(second.url, '/v1/settlements', { ...body, amount: 1000 })
    assert.deepEqual(
      repeated.body,
      { reference: 'm-1', settled: true, failureReason: null },
      'carried out again',
    )
  },
)

test(
  'a torn last line is dropped with a warning and cut off, so later appends stay readable',
  TIMEOUT,
  async (t) => {
    const file = join(scratch(t), 'acquirer.jsonl')
    writeFileSync(file, line({ reference: 't-1', operation: 'settle', outcome: 'settled', amount: 1000 }))
    appendFileSync(file, '{"reference":"t-2","operation":"sett')
    assert.deepEqual(
      await readAcquirerJournal(file),
      new Map([['t-1', { authorized: 0, settled: 1, refunded: 0, voided: 0 }]]),
    )

    const { logger, lines } = capturingLogger()
    const app = simulator(file, logger)
    t.after(() => app.close())
    assert.match(lines.join(''), /ignoring a torn last line/)
    assert.match(lines.join(''), /"line":2/)
    const repeat = await app.inject({
      method: 'POST',
      url: '/v1/settlements',
      payload: { reference: 't-1', amount: 1052, currency: 'USD' },
    })
    assert.deepEqual(
      repeat.json(),
      { reference: 't-1', settled: true, failureReason: null },
      'from the journal',
    )
    const torn = await app.inject({
      method: 'POST',
      url: '/v1/settlements',
      payload: { reference: 't-2', amount: 1000, currency: 'USD' },
    })
    assert.equal(torn.json().settled, true, 'the torn operation was never answered: it is carried out now')
    assert.deepEqual(
      await readAcquirerJournal(file),
      new Map([
        ['t-1', { authorized: 0, settled: 1, refunded: 0, voided: 0 }],
        ['t-2', { authorized: 0, settled: 1, refunded: 0, voided: 0 }],
      ]),
    )
    assert.equal(readFileSync(file, 'utf8').split('\n').length, 3, 'two whole lines, no remnant')
  },
)

test('a bad line before the last one fails the start, naming the file and the line', TIMEOUT, async (t) => {
  const dir = scratch(t)
  const good = line({ reference: 'c-1', operation: 'authorize', outcome: 'approved', amount: 100 })
  const cases: [string, string, RegExp][] = [
    ['torn-in-the-middle', '{"reference":"c-2","oper\n', /line 2 is not JSON/],
    [
      'wrong-outcome',
      line({ reference: 'c-2', operation: 'settle', outcome: 'approved', amount: 100 }),
      /line 2 is not a journal entry/,
    ],
    ['blank', '\n', /line 2 is not JSON/],
  ]
  for (const [name, bad, problem] of cases) {
    const file = join(dir, `${name}.jsonl`)
    writeFileSync(file, good + bad + good)
    assert.throws(
      () => simulator(file),
      (error: unknown) => {
        assert.ok(hasErrorCode(error, 'ACQUIRER_JOURNAL_INVALID'), String(error))
        assert.match((error as Error).message, problem)
        assert.ok(
          (error as Error).message.includes(`acquirer journal ${file} line 2`),
          (error as Error).message,
        )
        return true
      },
      name,
    )
    await assert.rejects(readAcquirerJournal(file), problem, `${name}: the reader too`)
  }
  // The real process refuses to start, and says why.
  const file = join(dir, 'torn-in-the-middle.jsonl')
  await assert.rejects(startAcquirer({ ACQUIRER_JOURNAL_FILE: file }), (error: unknown) => {
    assert.match((error as Error).message, /exited with 1/)
    assert.ok(
      (error as Error).message.includes(`payrail: acquirer journal ${file} line 2 is not JSON`),
      (error as Error).message,
    )
    return true
  })
  assert.equal(readFileSync(file, 'utf8'), good + cases[0]?.[1] + good, 'the journal is left as it was')
})
