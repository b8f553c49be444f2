import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ArrivalSchedule, type LoadClock, runSchedule } from '../../src/load/schedule.ts'

/** A clock that moves only when the scheduler sleeps, by the asked time plus `stallMs` (a busy event loop). */
function fakeClock(stallMs = 0) {
  let now = 0
  const waiting: { at: number; resolve: () => void }[] = []
  const clock: LoadClock = {
    now: () => now,
    sleep: async (ms) => {
      now += ms + stallMs
      for (const w of waiting.filter((w) => w.at <= now)) {
        waiting.splice(waiting.indexOf(w), 1)
        w.resolve()
      }
      await new Promise((resolve) => setImmediate(resolve))
    },
  }
  /** A promise that settles once the clock has passed `at`, or at `releaseAll`. */
  const until = (at: number) => new Promise<void>((resolve) => waiting.push({ at, resolve }))
  const releaseAll = () => {
    for (const w of waiting.splice(0)) w.resolve()
  }
  return { clock, until, releaseAll }
}

test('a schedule spaces a constant rate evenly and a ramp by its integral', () => {
  const constant = new ArrivalSchedule([{ from: 100, to: 100, durationMs: 1000 }])
  assert.equal(constant.total, 100)
  assert.equal(constant.dueAt(0), 10)
  assert.equal(constant.dueAt(99), 1000)
  const ramp = new ArrivalSchedule([
    { from: 0, to: 400, durationMs: 30_000 },
    { from: 400, to: 400, durationMs: 10_000 },
  ])
  assert.equal(ramp.total, 6000 + 4000)
  assert.equal(ramp.rateAt(15_000), 200)
  assert.equal(ramp.rateAt(35_000), 400)
  // Half the ramp's 6,000 arrivals are due by 30 s / √2.
  assert.ok(Math.abs(ramp.dueAt(2999) - 30_000 / Math.SQRT2) < 1)
  assert.ok(Math.abs(ramp.dueAt(5999) - 30_000) < 1e-6)
  assert.ok(Math.abs(ramp.dueAt(9999) - 40_000) < 1e-6)
  for (let n = 1; n < ramp.total; n += 97) assert.ok(ramp.dueAt(n) >= ramp.dueAt(n - 1), `monotonic at ${n}`)
})

test('a generator that keeps up starts every iteration at its due time and drops none', async () => {
  const { clock } = fakeClock()
  const dues: number[] = []
  const result = await runSchedule({
    schedule: new ArrivalSchedule([{ from: 100, to: 100, durationMs: 1000 }]),
    maxInFlight: 10,
    clock,
    start: async (_n, due) => {
      dues.push(due)
    },
  })
  assert.deepEqual(
    { due: result.due, started: result.started, dropped: result.dropped, late: result.late },
    { due: 100, started: 100, dropped: 0, late: 0 },
  )
  assert.deepEqual(dues.slice(0, 3), [10, 20, 30], 'each start is told its due time, the base of its latency')
})

test('iterations due while maxInFlight are open are dropped and counted, not queued', async () => {
  const { clock, until, releaseAll } = fakeClock()
  const dropped: number[] = []
  const result = await runSchedule({
    schedule: new ArrivalSchedule([{ from: 100, to: 100, durationMs: 1000 }]),
    maxInFlight: 5,
    clock,
    // A slow server: each answer takes 150 ms; the last due iteration, sent or dropped, releases
    // everything still open (the clock moves only while the scheduler sleeps).
    onDrop: (due) => {
      dropped.push(due)
      if (due >= 1000) releaseAll()
    },
    start: (_n, due) => {
      if (due >= 1000) {
        releaseAll()
        return Promise.resolve()
      }
      return until(due + 150)
    },
  })
  assert.equal(result.due, 100)
  assert.equal(result.started + result.dropped, 100)
  // 5 open at a time, each 150 ms: about 5 starts per 150 ms, 33 in the second; the rest dropped.
  assert.ok(result.started >= 30 && result.started <= 40, `started ${result.started}`)
  assert.equal(dropped.length, result.dropped)
  assert.ok(result.dropped >= 60)
})

test('a stalled generator still sends every iteration, times it from its due time and counts it late', async () => {
  // Each sleep overruns by 300 ms, like an event loop blocked by other work.
  const { clock } = fakeClock(300)
  const lags: number[] = []
  const result = await runSchedule({
    schedule: new ArrivalSchedule([{ from: 100, to: 100, durationMs: 1000 }]),
    maxInFlight: 1000,
    clock,
    start: async (_n, due) => {
      lags.push(clock.now() - due)
    },
  })
  assert.equal(result.started, 100)
  assert.equal(result.dropped, 0)
  assert.ok(result.late >= 80, `late ${result.late}`)
  assert.ok(result.maxLagMs >= 250, `max lag ${result.maxLagMs}`)
  assert.ok(Math.max(...lags) >= 250, 'the due time passed to start is the schedule, not the late send')
})

test('an iteration that throws does not stop the schedule, but fails the run once every iteration is done', async () => {
  const { clock } = fakeClock()
  let started = 0
  await assert.rejects(
    runSchedule({
      schedule: new ArrivalSchedule([{ from: 100, to: 100, durationMs: 100 }]),
      maxInFlight: 10,
      clock,
      start: async (n) => {
        started++
        if (n === 3) throw new Error('read: no payments to read')
      },
    }),
    /no payments to read/,
  )
  assert.equal(started, 10, 'the other iterations all ran')
})
