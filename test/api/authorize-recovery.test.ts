import assert from 'node:assert/strict'
import { after, beforeEach, describe, test } from 'node:test'
import type { AuthorizationResult, VoidResult } from '../../src/acquirer/protocol.ts'
import { AuthorizeRecovery } from '../../src/api/authorize-recovery.ts'
import { requestFingerprint } from '../../src/api/idempotency.ts'
import { type AuthorizingAcquirer, PaymentService } from '../../src/api/payment-service.ts'
import { hasErrorCode, PayrailError } from '../../src/domain/errors.ts'
import { setAcquirerMode, startAcquirer } from '../../support/processes.ts'
import { startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'
import { until } from '../helpers/until.ts'

// The sweep's own rules, with a scripted acquirer where the real simulator cannot produce the
// answer (an unexpected lookup, a field too long for its column, an answer held back at will).
const acquirer = await startAcquirer()
after(() => acquirer.stop())
beforeEach(() => setAcquirerMode(acquirer.url, 'normal', 0))

const approval = (reference: string, code = 'ABC123'): AuthorizationResult => ({
  reference,
  approved: true,
  authorizationCode: code,
  declineReason: null,
})

function scripted(lookup: (reference: string) => Promise<AuthorizationResult | undefined>) {
  const voids: string[] = []
  const lookups: string[] = []
  let failVoids = 0
  const fake: AuthorizingAcquirer & { voids: string[]; lookups: string[]; failNextVoids(n: number): void } = {
    voids,
    lookups,
    failNextVoids: (n) => {
      failVoids = n
    },
    authorize: async (request) => approval(request.reference),
    lookupAuthorization: (reference) => {
      lookups.push(reference)
      return lookup(reference)
    },
    voidAuthorization: async (reference): Promise<VoidResult> => {
      if (failVoids > 0) {
        failVoids--
        throw new PayrailError('ACQUIRER_UNAVAILABLE', 'void refused before processing')
      }
      voids.push(reference)
      return { reference, voided: true }
    },
  }
  return fake
}

const body = (key: string) => ({ amount: 2000, currency: 'USD', idempotencyKey: key })

for (const dialect of dialects) {
  describe(dialect, () => {
    test('one bad attempt does not stop the sweep: it is backed off and counted, the next is resolved', async (t) => {
      const api = await startApi(t, dialect, acquirer.url, { authorizeTimeoutMs: 300 })
      if (api === undefined) return
      await setAcquirerMode(acquirer.url, 'error-after-processing')
      const ids: string[] = []
      for (const key of ['bad-1', 'long-1', 'good-1']) {
        assert.equal((await api.call('POST', '/api/payments/authorize', { body: body(key) })).status, 503)
        const row = await api.db
          .selectFrom('authorization_attempts')
          .select('payment_id')
          .where('idempotency_key', '=', key)
          .executeTakeFirstOrThrow()
        ids.push(row.payment_id)
      }
      const [bad, long, good] = ids as [string, string, string]
      const fake = scripted(async (reference) => {
        if (reference === bad) throw new PayrailError('INTERNAL', 'unexpected lookup answer')
        // 100 characters for payments.acquirer_reference varchar(64); SQLite stores it anyway.
        if (reference === long) return approval(reference, 'X'.repeat(100))
        return approval(reference)
      })
      const failures: string[] = []
      const recovery = new AuthorizeRecovery({
        database: api.database,
        acquirer: fake,
        acquirerTimeoutMs: 300,
        retryBaseMs: 60_000,
        random: () => 0.5,
        observer: {
          outcome: () => {},
          recovered: () => {},
          recoveryFailed: (reason) => failures.push(reason),
        },
      })
      const refusesLong = dialect !== 'sqlite'
      const result = await recovery.resolveStaleAttempts(0)
      assert.deepEqual(result, refusesLong ? { resolved: 1, pending: 2 } : { resolved: 2, pending: 1 })
      assert.deepEqual(failures, refusesLong ? ['internal', 'internal'] : ['internal'])
      const rows = await api.db
        .selectFrom('authorization_attempts')
        .select(['payment_id', 'state', 'failures', 'last_error', 'next_check_at'])
        .execute()
      const byId = new Map(rows.map((row) => [row.payment_id, row]))
      assert.equal(byId.get(good)?.state, 'DONE', 'the attempt after the bad one was resolved')
      const backedOff = byId.get(bad)
      assert.equal(backedOff?.state, 'PENDING')
      assert.equal(backedOff?.failures, 1)
      assert.match(backedOff?.last_error ?? '', /^internal: unexpected lookup answer/)
      assert.equal(byId.get(long)?.state, refusesLong ? 'PENDING' : 'DONE')
      // Backed off (60 s · 0.75): the next pass leaves both alone.
      const lookupsBefore = fake.lookups.length
      assert.deepEqual(await recovery.resolveStaleAttempts(0), { resolved: 0, pending: 0 })
      assert.equal(fake.lookups.length, lookupsBefore)
    })

    test('passes never overlap: a second call while one runs joins it', async (t) => {
      const api = await startApi(t, dialect, acquirer.url, { authorizeTimeoutMs: 300 })
      if (api === undefined) return
      await setAcquirerMode(acquirer.url, 'error-after-processing')
      assert.equal((await api.call('POST', '/api/payments/authorize', { body: body('o-1') })).status, 503)
      let release: () => void = () => {}
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      const fake = scripted(async (reference) => {
        await held
        return approval(reference)
      })
      const recovery = new AuthorizeRecovery({
        database: api.database,
        acquirer: fake,
        acquirerTimeoutMs: 300,
      })
      const first = recovery.resolveStaleAttempts(0)
      await until('the first pass to ask the acquirer', () => fake.lookups.length === 1)
      const second = recovery.resolveStaleAttempts(0)
      release()
      assert.deepEqual(await Promise.all([first, second]), [
        { resolved: 1, pending: 0 },
        { resolved: 1, pending: 0 },
      ])
      assert.equal(fake.lookups.length, 1, 'one lookup: the second call did not start a pass')
    })

    test('an approval that surfaces after its attempt was abandoned is voided at the acquirer', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      let answer: (result: AuthorizationResult) => void = () => {}
      const fake = scripted(async () => undefined)
      fake.authorize = (request) =>
        new Promise<AuthorizationResult>((resolve) => {
          answer = resolve
          void request
        })
      fake.failNextVoids(1)
      const writes = { database: api.database, acquirer: fake }
      const service = new PaymentService(writes)
      const recovery = new AuthorizeRecovery({ ...writes, acquirerTimeoutMs: 20 })
      const fingerprint = requestFingerprint('authorize', '', { amount: 2000, currency: 'USD' })
      const call = service.authorize({
        merchantId: 'merchant-a',
        amount: 2000,
        currency: 'USD',
        idempotencyKey: 'late-1',
        fingerprint,
      })
      const attempt = await until('the attempt row', () =>
        api.db.selectFrom('authorization_attempts').selectAll().executeTakeFirst(),
      )
      // The process stalls past every limit: the sweep sees "unknown" twice and gives up.
      await until('the sweep to abandon the attempt', async () => {
        await recovery.resolveStaleAttempts(0)
        const row = await api.db
          .selectFrom('authorization_attempts')
          .select('state')
          .executeTakeFirstOrThrow()
        return row.state === 'ABANDONED'
      })
      answer(approval(attempt.payment_id))
      await assert.rejects(call, (error: unknown) => hasErrorCode(error, 'AUTHORIZATION_VOIDED'))
      // The first void failed: the attempt waits as VOIDING, and the sweep voids it.
      const voiding = await api.db
        .selectFrom('authorization_attempts')
        .select('state')
        .executeTakeFirstOrThrow()
      assert.equal(voiding.state, 'VOIDING')
      assert.deepEqual(await recovery.resolveStaleAttempts(0), { resolved: 1, pending: 0 })
      assert.deepEqual(fake.voids, [attempt.payment_id])
      const voided = await api.db
        .selectFrom('authorization_attempts')
        .select('state')
        .executeTakeFirstOrThrow()
      assert.equal(voided.state, 'VOIDED')
      const counts = await api.counts()
      assert.deepEqual(
        [counts.payments, counts.outbox, counts.idempotency],
        [0, 0, 0],
        'no payment, key free',
      )
    })

    test('an abandoned attempt the acquirer carried out after all is found by the watch and voided; past the watch it is left alone', async (t) => {
      const api = await startApi(t, dialect, acquirer.url)
      if (api === undefined) return
      let carriedOut = false
      const fake = scripted(async (reference) => (carriedOut ? approval(reference) : undefined))
      fake.authorize = () => new Promise<AuthorizationResult>(() => {})
      const writes = { database: api.database, acquirer: fake }
      const service = new PaymentService(writes)
      const recovery = new AuthorizeRecovery({ ...writes, acquirerTimeoutMs: 20, abandonedWatchMs: 60_000 })
      const fingerprint = requestFingerprint('authorize', '', { amount: 2000, currency: 'USD' })
      // The api call never hears back (the process stalls): only the sweep can find the approval.
      void service.authorize({
        merchantId: 'merchant-a',
        amount: 2000,
        currency: 'USD',
        idempotencyKey: 'watch-1',
        fingerprint,
      })
      const attempt = await until('the attempt row', () =>
        api.db.selectFrom('authorization_attempts').selectAll().executeTakeFirst(),
      )
      const state = async () =>
        await api.db
          .selectFrom('authorization_attempts')
          .select(['state', 'next_check_at'])
          .executeTakeFirstOrThrow()
      await until('the sweep to abandon the attempt', async () => {
        await recovery.resolveStaleAttempts(0)
        return (await state()).state === 'ABANDONED'
      })
      const lookupsAtAbandon = fake.lookups.length
      await until('a look at the abandoned attempt', async () => {
        await recovery.resolveStaleAttempts(0)
        return fake.lookups.length > lookupsAtAbandon
      })
      assert.equal((await state()).state, 'ABANDONED', 'still nothing at the acquirer: left abandoned')
      assert.deepEqual(fake.voids, [])

      carriedOut = true
      await until('the watch to void the late approval', async () => {
        await recovery.resolveStaleAttempts(0)
        return (await state()).state === 'VOIDED'
      })
      assert.deepEqual(fake.voids, [attempt.payment_id])

      // Abandoned longer ago than the watch: never looked up again.
      await api.db
        .updateTable('authorization_attempts')
        .set({ state: 'ABANDONED', updated_at: 0, next_check_at: 0 })
        .execute()
      const lookups = fake.lookups.length
      await recovery.resolveStaleAttempts(0)
      assert.equal(fake.lookups.length, lookups)
      assert.deepEqual(fake.voids, [attempt.payment_id])
    })
  })
}
