import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mergeReports } from '../../src/load/merge.ts'
import type { LoadReport } from '../../src/load/report.ts'
import { LoadStats } from '../../src/load/stats.ts'

function report(latencies: number[], answers: Record<string, number>): LoadReport {
  const stats = new LoadStats(0, 'authorize')
  for (const ms of latencies) stats.latency('authorize', 0, ms)
  return {
    scenario: 'authorize',
    url: 'http://127.0.0.1:8080',
    model: 'open model, 100/s constant',
    startedAt: new Date(0).toISOString(),
    durationSeconds: 10,
    mainStep: 'authorize',
    iterations: { due: latencies.length, started: latencies.length, dropped: 0, late: 1, maxLagMs: 12 },
    achievedRate: latencies.length / 10,
    targetRate: latencies.length / 10,
    errorShare: 0,
    droppedShare: 0,
    answers,
    polls: 0,
    steps: stats.summary(),
    histograms: stats.encoded(),
    seconds: [],
    scraped: [],
    thresholds: [],
    generator: { cpuSeconds: 1, cpuMicrosPerRequest: 100 },
  }
}

test("load-merge adds counts and rates, and takes percentiles from the added histograms, not from the processes' percentiles", () => {
  // One process saw 900 fast answers, the other 100 slow ones: the p95 of all is slow, which no
  // average of the two p95s (1 ms and 500 ms) would say.
  const fast = report(
    Array.from({ length: 900 }, () => 1),
    { '201': 900 },
  )
  const slow = report(
    Array.from({ length: 100 }, () => 500),
    { '201': 99, '503 OVERLOADED': 1 },
  )
  const merged = mergeReports([fast, slow])
  assert.equal(merged.steps.authorize?.count, 1000)
  assert.ok(Math.abs((merged.steps.authorize?.p50 ?? 0) - 1) < 0.01)
  assert.ok(Math.abs((merged.steps.authorize?.p95 ?? 0) - 500) < 1)
  assert.equal(merged.achievedRate, 100)
  assert.deepEqual(merged.answers, { '201': 999, '503 OVERLOADED': 1 })
  assert.equal(merged.errorShare, 0.001)
  assert.equal(merged.iterations.late, 2)
  assert.equal(merged.generator, undefined)
  assert.throws(() => mergeReports([fast, { ...slow, scenario: 'flow' }]), /one scenario/)
})
