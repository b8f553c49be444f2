import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { LoadRuns } from '../../src/operations/load-runs.ts'

const options = (dir: string) => ({
  dir,
  targetUrl: 'http://127.0.0.1:1',
  databaseUrl: 'sqlite::memory:',
  maxRate: 100,
  maxDurationSeconds: 60,
})

function storedRun(dir: string, id: string, fields: Record<string, unknown>) {
  mkdirSync(join(dir, id), { recursive: true })
  writeFileSync(
    join(dir, id, 'run.json'),
    JSON.stringify({
      id,
      scenario: 'authorize',
      rate: 10,
      durationSeconds: 5,
      status: 'running',
      startedAt: '2026-01-01T00:00:00.000Z',
      endedAt: null,
      progress: null,
      error: null,
      hasReport: false,
      ...fields,
    }),
  )
}

test('runs survive a restart of the api: one cut short is failed, one whose report was written is finished, a live one still blocks a second', () => {
  const dir = mkdtempSync(join(tmpdir(), 'payrail-load-runs-'))
  // No such process: the api that ran it is gone and took its child along.
  storedRun(dir, 'cut-short', { pid: 2 ** 22 + 1 })
  storedRun(dir, 'reported', { pid: 2 ** 22 + 2, startedAt: '2026-01-02T00:00:00.000Z' })
  writeFileSync(join(dir, 'reported', 'report.json'), '{"scenario":"authorize"}')
  writeFileSync(join(dir, 'reported', 'report.html'), '<html></html>')
  writeFileSync(join(dir, 'reported', 'progress.json'), JSON.stringify({ requests: 50 }))
  const runs = new LoadRuns(options(dir))
  assert.deepEqual(
    runs.list().map((run) => [run.id, run.status, run.hasReport, run.error !== null]),
    [
      ['reported', 'finished', true, false],
      ['cut-short', 'failed', false, true],
    ],
  )
  assert.equal(runs.get('reported').progress?.requests, 50)
  assert.deepEqual(runs.report('reported'), { scenario: 'authorize' })
  assert.equal(runs.reportHtml('reported'), '<html></html>')
  assert.throws(() => runs.reportHtml('cut-short'), { code: 'NOT_FOUND' })
  assert.throws(() => runs.get('../etc'), { code: 'NOT_FOUND' })
  assert.ok(!('pid' in runs.get('reported')), 'the pid stays inside')

  // A run another api process is running (this test's own pid stands in for its child).
  storedRun(dir, 'elsewhere', { pid: process.pid, startedAt: '2026-01-03T00:00:00.000Z' })
  const again = new LoadRuns(options(dir))
  assert.equal(again.get('elsewhere').status, 'running', 'a live run is left alone')
  assert.throws(() => again.start({ scenario: 'authorize', rate: 10, duration: 5 }), {
    code: 'LOAD_RUN_IN_PROGRESS',
  })
})

test('a load run beyond the limits is refused before anything starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'payrail-load-runs-'))
  const runs = new LoadRuns(options(dir))
  assert.throws(() => runs.start({ scenario: 'authorize', rate: 101, duration: 5 }), {
    code: 'VALIDATION_FAILED',
    message: /at most 100 \(LOAD_RUN_MAX_RATE\)/,
  })
  assert.throws(() => runs.start({ scenario: 'authorize', rate: 10, duration: 61 }), {
    code: 'VALIDATION_FAILED',
    message: /LOAD_RUN_MAX_DURATION_SECONDS/,
  })
  assert.throws(() => runs.start({ scenario: 'nope' as 'read', rate: 10, duration: 5 }), {
    code: 'VALIDATION_FAILED',
  })
  assert.deepEqual(runs.list(), [])
})
