import assert from 'node:assert/strict'
import { test } from 'node:test'
import { nextAttemptAt } from '../../src/webhooks/schedule.ts'

const HOUR = 3_600_000
const defaults = { baseMs: 30_000, capMs: 6 * HOUR, retryForMs: 72 * HOUR }

function seeded(seed: number): () => number {
  // mulberry32: a printed seed reproduces the run.
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Every attempt's time until the schedule gives up. */
function run(random: () => number): number[] {
  const times = [0]
  for (let attempt = 1; ; attempt++) {
    const next = nextAttemptAt(defaults, attempt, 0, times.at(-1) as number, random)
    if (next === undefined) return times
    times.push(next)
  }
}

test('the default schedule: backoff from 15-30 s doubling to 3-6 h with jitter, retried for 3 days, then given up', {
  timeout: 5000,
}, () => {
  const seed = Number(process.env.TEST_SEED ?? Date.now() % 1_000_000)
  console.log(`seed ${seed}`)
  const random = seeded(seed)
  for (let run_ = 0; run_ < 50; run_++) {
    const times = run(random)
    const last = times.at(-1) as number
    assert.ok(last >= 72 * HOUR, `seed ${seed}: retried for at least 3 days (${last / HOUR} h)`)
    assert.ok(last < 72 * HOUR + 6 * HOUR, `seed ${seed}: no attempt long after the 3 days`)
    const first = (times[1] as number) - (times[0] as number)
    assert.ok(first >= 15_000 && first <= 30_000, `first wait ${first}`)
    for (let i = 1; i < times.length; i++) {
      const wait = (times[i] as number) - (times[i - 1] as number)
      assert.ok(wait <= 6 * HOUR, `wait ${wait} within the cap`)
    }
    assert.ok(times.length >= 20 && times.length <= 40, `${times.length} attempts`)
  }
})

test('no jitter at the extremes breaks the bounds; a delivery past its window is given up at once', {
  timeout: 5000,
}, () => {
  for (const random of [() => 0, () => 0.999_999]) assert.ok((run(random).at(-1) as number) >= 72 * HOUR)
  assert.equal(
    nextAttemptAt(defaults, 5, 0, 72 * HOUR, () => 0.5),
    undefined,
  )
  assert.equal(
    nextAttemptAt(defaults, 1, 1000, 1000, () => 0),
    1000 + 15_000,
  )
})
