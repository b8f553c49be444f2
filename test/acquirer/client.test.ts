import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { AcquirerClient } from '../../src/acquirer/client.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import {
  acquirerLedger,
  freePort,
  resetAcquirerLedger,
  setAcquirerMode,
  startAcquirer,
} from '../../support/processes.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())

test('a slow acquirer is a timeout with an unknown outcome', async (t) => {
  const client = new AcquirerClient({ url: acquirer.url, authorizeTimeoutMs: 200 })
  t.after(() => client.close())
  await setAcquirerMode(acquirer.url, 'slow', 600)
  t.after(() => setAcquirerMode(acquirer.url, 'normal', 0))
  await assert.rejects(
    client.authorize({ reference: 'slow-1', amount: 1, currency: 'USD' }),
    (error: unknown) =>
      hasErrorCode(error, 'ACQUIRER_TIMEOUT') &&
      (error as { details: { outcome: string } }).details.outcome === 'unknown',
  )
})

test('an acquirer nobody listens for is unavailable with nothing processed, and trips the breaker', async (t) => {
  const client = new AcquirerClient({ url: `http://127.0.0.1:${await freePort()}`, breakerThreshold: 2 })
  t.after(() => client.close())
  const states: string[] = []
  client.onBreakerStateChange((operation, state) => states.push(`${operation}:${state}`))
  for (let i = 0; i < 2; i++) {
    await assert.rejects(
      client.settle({ reference: `s-${i}`, amount: 1, currency: 'USD' }),
      (error: unknown) =>
        hasErrorCode(error, 'ACQUIRER_UNAVAILABLE') &&
        (error as { details: { outcome: string } }).details.outcome === 'not-processed',
    )
  }
  await assert.rejects(
    client.settle({ reference: 's-3', amount: 1, currency: 'USD' }),
    /circuit breaker is open/,
  )
  assert.deepEqual(states, ['settle:open'])
  assert.deepEqual(client.breakerStates(), { authorize: 'closed', settle: 'open', refund: 'closed' })
})

test('settle and refund answer the acquirer results; lookups of unknown references are empty', async (t) => {
  const client = new AcquirerClient({ url: acquirer.url })
  t.after(() => client.close())
  assert.deepEqual(await client.settle({ reference: 'ok-1', amount: 100, currency: 'USD' }), {
    reference: 'ok-1',
    settled: true,
    failureReason: null,
  })
  assert.equal((await client.refund({ reference: 'ok-2', amount: 153, currency: 'USD' })).refunded, false)
  assert.equal(await client.lookupAuthorization('never-seen'), undefined)
})

const outcomeOf = (error: unknown) => (error as { details: { outcome: string } }).details.outcome

test('every ambiguous answer of the real simulator is an unknown outcome, and it did authorize once', async (t) => {
  const client = new AcquirerClient({ url: acquirer.url, authorizeTimeoutMs: 500, breakerThreshold: 100 })
  t.after(() => client.close())
  t.after(() => setAcquirerMode(acquirer.url, 'normal', 0))
  await resetAcquirerLedger(acquirer.url)
  const cases = [
    ['error-after-processing', 'ACQUIRER_OUTCOME_UNKNOWN', /answered 500/],
    ['reset-after-processing', 'ACQUIRER_OUTCOME_UNKNOWN', /failed after sending/],
    ['malformed', 'ACQUIRER_OUTCOME_UNKNOWN', /breaks its schema \(\/approved/],
  ] as const
  for (const [mode, code, message] of cases) {
    await setAcquirerMode(acquirer.url, mode)
    await assert.rejects(
      client.authorize({ reference: `amb-${mode}`, amount: 100, currency: 'USD' }),
      (error: unknown) =>
        hasErrorCode(error, code) && outcomeOf(error) === 'unknown' && message.test((error as Error).message),
      mode,
    )
  }
  // `"approved":"false"` is a string: it must not read as an approval, nor as a decline.
  await assert.rejects(client.lookupAuthorization('amb-malformed'), /breaks its schema/)
  await setAcquirerMode(acquirer.url, 'normal')
  const ledger = await acquirerLedger(acquirer.url)
  for (const [mode] of cases) {
    assert.deepEqual(
      ledger[`amb-${mode}`],
      { authorized: 1, approved: true, voided: false, settled: 0, refunded: 0 },
      mode,
    )
    assert.equal((await client.lookupAuthorization(`amb-${mode}`))?.approved, true, `${mode}: lookup`)
  }
})

test('only the defined rejection proves nothing was done: down and failing are unavailable, not processed', async (t) => {
  const client = new AcquirerClient({ url: acquirer.url, breakerThreshold: 100 })
  t.after(() => client.close())
  t.after(() => setAcquirerMode(acquirer.url, 'normal', 0))
  await resetAcquirerLedger(acquirer.url)
  for (const mode of ['down', 'failing']) {
    await setAcquirerMode(acquirer.url, mode)
    await assert.rejects(
      client.authorize({ reference: `rej-${mode}`, amount: 100, currency: 'USD' }),
      (error: unknown) => hasErrorCode(error, 'ACQUIRER_UNAVAILABLE') && outcomeOf(error) === 'not-processed',
      mode,
    )
  }
  assert.deepEqual(await acquirerLedger(acquirer.url), {}, 'nothing authorized')
})

test('a void releases an approval once; a reference never approved has nothing to void', async (t) => {
  const client = new AcquirerClient({ url: acquirer.url })
  t.after(() => client.close())
  await resetAcquirerLedger(acquirer.url)
  await client.authorize({ reference: 'v-1', amount: 100, currency: 'USD' })
  assert.deepEqual(await client.voidAuthorization('v-1'), { reference: 'v-1', voided: true })
  assert.deepEqual(await client.voidAuthorization('v-1'), { reference: 'v-1', voided: true }, 'repeatable')
  assert.deepEqual(await client.voidAuthorization('v-none'), { reference: 'v-none', voided: false })
  await client.authorize({ reference: 'v-2', amount: 151, currency: 'USD' })
  assert.deepEqual(await client.voidAuthorization('v-2'), { reference: 'v-2', voided: false }, 'declined')
  assert.deepEqual(await acquirerLedger(acquirer.url), {
    'v-1': { authorized: 1, approved: true, voided: true, settled: 0, refunded: 0 },
    'v-2': { authorized: 1, approved: false, voided: false, settled: 0, refunded: 0 },
  })
})

test('every exchange is observed with its call, outcome and duration; an open breaker sends none', async (t) => {
  const seen: string[] = []
  let clock = 0
  const observer = {
    exchanged: (call: string, outcome: string, seconds: number) => seen.push(`${call} ${outcome} ${seconds}`),
  }
  // Each exchange reads the clock twice, 125 ms apart.
  const now = () => (clock += 125)
  const client = new AcquirerClient({ url: acquirer.url, authorizeTimeoutMs: 200, observer, now })
  t.after(() => client.close())
  await client.authorize({ reference: 'observed-1', amount: 1, currency: 'USD' })
  await client.lookupAuthorization('observed-never')
  await client.settle({ reference: 'observed-1', amount: 1, currency: 'USD' })
  await setAcquirerMode(acquirer.url, 'slow', 600)
  t.after(() => setAcquirerMode(acquirer.url, 'normal', 0))
  await assert.rejects(client.authorize({ reference: 'observed-2', amount: 1, currency: 'USD' }))
  const down = new AcquirerClient({
    url: `http://127.0.0.1:${await freePort()}`,
    breakerThreshold: 1,
    observer,
    now,
  })
  t.after(() => down.close())
  await assert.rejects(down.refund({ reference: 'observed-3', amount: 1, currency: 'USD' }))
  await assert.rejects(
    down.refund({ reference: 'observed-4', amount: 1, currency: 'USD' }),
    (error: unknown) => hasErrorCode(error, 'ACQUIRER_UNAVAILABLE'),
  )
  assert.deepEqual(seen, [
    'authorize answered 0.125',
    'lookup answered 0.125',
    'settle answered 0.125',
    'authorize timeout 0.125',
    'refund not_processed 0.125',
  ])
})
