import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DECLINING_CENTS } from '../../src/acquirer/protocol.ts'
import { parseDuration, parseMix, parseStages, presetOf, seededRandom } from '../../src/load/options.ts'
import { amountFor } from '../../src/load/scenarios.ts'
import { ArrivalSchedule } from '../../src/load/schedule.ts'

test('durations, stages and mixes parse; bad text is USAGE naming the option', () => {
  assert.equal(parseDuration('--duration', '500ms'), 500)
  assert.equal(parseDuration('--duration', '15s'), 15_000)
  assert.equal(parseDuration('--duration', '2m'), 120_000)
  assert.equal(parseDuration('--duration', '3'), 3000)
  assert.deepEqual(parseStages('0-400/30s,400/60s'), [
    { from: 0, to: 400, durationMs: 30_000 },
    { from: 400, to: 400, durationMs: 60_000 },
  ])
  assert.deepEqual(parseMix('authorize=1,flow=3'), { authorize: 1, read: 0, flow: 3 })
  const usage = (name: RegExp) => (error: Error & { code?: string }) =>
    error.code === 'USAGE' && name.test(error.message)
  assert.throws(() => parseDuration('--duration', '3h'), usage(/--duration/))
  assert.throws(() => parseDuration('--duration', '0s'), usage(/--duration/))
  assert.throws(() => parseStages('400 for 60s'), usage(/--stages/))
  assert.throws(() => parseStages('0-0/5s'), usage(/--stages/))
  assert.throws(() => parseMix('capture=5'), usage(/--mix/))
  assert.throws(() => presetOf('ramp-9000'), usage(/--preset must be one of ramp-400, constant-1050/))
})

test("the presets are the original system's two k6 runs: a ramp to 400/s and 1,050/s constant", () => {
  const ramp = new ArrivalSchedule(presetOf('ramp-400').stages)
  assert.equal(Math.max(...[0, 15_000, 30_000, 60_000, 95_000].map((ms) => ramp.rateAt(ms))), 400)
  assert.equal(new ArrivalSchedule(presetOf('constant-1050').stages).rateAt(30_000), 1050)
})

test("amounts avoid the simulator's decline endings unless declines are asked for", () => {
  const endings = Object.values(DECLINING_CENTS) as number[]
  const random = seededRandom(Number(process.env.PAYRAIL_TEST_SEED ?? 42))
  const clean = Array.from({ length: 20_000 }, () => amountFor(random, false))
  assert.ok(clean.every((amount) => !endings.includes(amount % 100) && amount >= 1000))
  const any = Array.from({ length: 20_000 }, () => amountFor(random, true))
  // 3 endings in 100: about 600 of 20,000 when declines are allowed.
  assert.ok(any.filter((amount) => endings.includes(amount % 100)).length > 300)
})
