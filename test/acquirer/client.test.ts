import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { AcquirerClient } from '../../src/acquirer/client.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { freePort, setAcquirerMode, startAcquirer } from '../../support/processes.ts'

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
