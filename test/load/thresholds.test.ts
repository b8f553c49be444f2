import assert from 'node:assert/strict'
import { test } from 'node:test'
import { evaluateThresholds, parseThreshold } from '../../src/load/thresholds.ts'
import { runCli } from '../helpers/cli.ts'

test('thresholds parse latencies in ms or s, shares in % or fractions, and rates', () => {
  assert.deepEqual(parseThreshold('p99<300ms'), {
    text: 'p99<300ms',
    step: undefined,
    metric: 'p99',
    comparison: '<',
    value: 300,
  })
  assert.equal(parseThreshold('flow.p95 <= 2s').value, 2000)
  assert.equal(parseThreshold('flow.p95 <= 2s').step, 'flow')
  assert.equal(parseThreshold('p50<12').value, 12)
  assert.equal(parseThreshold('errors<0.1%').value, 0.001)
  assert.equal(parseThreshold('dropped<0.01').value, 0.01)
  assert.equal(parseThreshold('rate>=390').comparison, '>=')
})

test('bad threshold text is refused with USAGE naming the threshold', () => {
  for (const [text, why] of [
    ['p99 under 300', /not a threshold/],
    ['p99<300%', /latency takes ms or s/],
    ['errors<5', /at most 1/],
    ['flow.errors<1%', /whole run/],
    ['rate>10%', /plain number/],
    ['p42<1s', /not a threshold/],
  ] as const) {
    assert.throws(
      () => parseThreshold(text),
      (error: Error & { code?: string }) =>
        error.code === 'USAGE' && why.test(error.message) && error.message.includes(JSON.stringify(text)),
      text,
    )
  }
})

test('thresholds evaluate against the run; a step that never answered fails its latency bound', () => {
  const steps = { authorize: { count: 10, p50: 5, p95: 9, p99: 12, max: 20, mean: 6 } }
  const verdicts = evaluateThresholds(
    ['p99<300ms', 'p99<10ms', 'errors<0.1%', 'dropped<=0', 'rate>=40', 'capture.p99<1s'].map(parseThreshold),
    { steps, mainStep: 'authorize', errorShare: 0.002, droppedShare: 0, rate: 50 },
  )
  assert.deepEqual(
    verdicts.map((v) => [v.text, v.passed]),
    [
      ['p99<300ms', true],
      ['p99<10ms', false],
      ['errors<0.1%', false],
      ['dropped<=0', true],
      ['rate>=40', true],
      ['capture.p99<1s', false],
    ],
  )
})

test('payrail load refuses a bad --threshold with exit 2 before it sends anything', async () => {
  const result = await runCli([
    'load',
    'authorize',
    '--url',
    'http://127.0.0.1:9',
    '--keys-file',
    '/nonexistent',
    '--threshold',
    'p99 < soon',
  ])
  assert.equal(result.code, 2, result.stderr)
  assert.match(result.stderr, /--threshold "p99 < soon": not a threshold/)
  assert.equal(result.stdout, '', 'nothing ran')
})
