import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { LoadClock } from '../../src/load/schedule.ts'
import { metricOf, startScraper } from '../../src/load/scrape.ts'

const page = (cpu: number, lag: number) =>
  [
    '# HELP payrail_worker_lag Records of a partition not yet finished',
    'payrail_worker_lag{handler="settlement",topic="payment.capture-requested",partition="0"} 3',
    'payrail_worker_lag{handler="settlement",topic="payment.capture-requested",partition="1"} 4',
    'payrail_outbox_oldest_pending_age_seconds{relay="a"} 1.5',
    'payrail_outbox_oldest_pending_age_seconds{relay="b"} 0.5',
    `payrail_process_cpu_seconds_total ${cpu}`,
    `payrail_nodejs_eventloop_lag_p99_seconds ${lag}`,
  ].join('\n')

test('metricOf sums (or takes the max of) every series of a name, and is undefined for an absent one', () => {
  const text = page(1, 0.02)
  assert.equal(metricOf(text, 'payrail_worker_lag'), 7)
  assert.equal(metricOf(text, 'payrail_outbox_oldest_pending_age_seconds', 'max'), 1.5)
  assert.equal(metricOf(text, 'payrail_outbox_pending'), undefined)
})

test('the scraper samples each role once a second, CPU as the counter rate, and leaves gaps for a role that fails', async () => {
  let now = 0
  let sleeps = 0
  let stop: () => void = () => {}
  const stopped = new Promise<void>((resolve) => {
    stop = resolve
  })
  const clock: LoadClock = {
    now: () => now,
    sleep: async (ms) => {
      now += ms
      if (++sleeps === 3) stop()
      await new Promise((resolve) => setImmediate(resolve))
    },
  }
  // The api burns 0.5 s of CPU per second; the relay never answers.
  const scraper = startScraper(
    [
      { role: 'api', url: 'http://api' },
      { role: 'relay', url: 'http://relay/' },
    ],
    clock,
    0,
    async (url) => {
      if (url.startsWith('http://relay')) throw new Error('refused')
      assert.equal(url, 'http://api/metrics')
      return page(10 + now / 2000, 0.02)
    },
  )
  await stopped
  const samples = await scraper.stop()
  assert.ok(samples.length >= 3)
  assert.ok(
    samples.every((s) => s.role === 'api'),
    'no sample made up for the relay',
  )
  assert.equal(samples[0]?.values.cpuCores, undefined, 'no rate from one reading')
  assert.equal(samples[1]?.values.cpuCores, 0.5)
  assert.equal(samples[1]?.values.consumerLag, 7)
  assert.equal(samples[1]?.values.eventLoopLagMs, 20)
})
