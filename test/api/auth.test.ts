import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import type { KyselyPlugin } from 'kysely'
import { MerchantAuthenticator } from '../../src/api/auth.ts'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import { wellFormedKey } from '../helpers/gateway.ts'

/** Counts the statements sent, so a test sees which lookups reached the database. */
function counting() {
  const seen = { queries: 0 }
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      seen.queries++
      return args.node
    },
    transformResult: async (args) => args.result,
  }
  return { seen, plugin }
}

const unauthorized = (error: unknown) => hasErrorCode(error, 'UNAUTHORIZED')

for (const dialect of dialects) {
  test(`${dialect}: unknown and ill-formed keys cost at most one lookup per negative-cache period`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const handle = database.open()
    await migrateToLatest(handle.db, handle.dialect)
    const issued = await issueApiKey(handle.db, 'm-1')
    const { seen, plugin } = counting()
    let now = 1_000_000
    const auth = new MerchantAuthenticator({
      db: handle.db.withPlugin(plugin),
      negativeTtlMs: 2000,
      now: () => now,
    })

    await assert.rejects(auth.merchantOf('Bearer not-a-key'), unauthorized)
    await assert.rejects(auth.merchantOf('Bearer prk_x'), unauthorized)
    assert.equal(seen.queries, 0, 'an ill-formed key is refused without a lookup')

    const guess = wellFormedKey('guess')
    for (let i = 0; i < 5; i++) await assert.rejects(auth.merchantOf(`Bearer ${guess}`), unauthorized)
    assert.equal(seen.queries, 1, 'the same unknown key is looked up once, not five times')

    // The guess becomes a real key (as if just issued): within the period it is still refused…
    await handle.db
      .insertInto('api_keys')
      .values({
        id: 'k-guess',
        merchant_id: 'm-1',
        prefix: guess.slice(0, 12),
        key_hash: createHash('sha256').update(guess).digest('hex'),
        created_at: now,
        revoked_at: null,
      })
      .execute()
    now += 1999
    await assert.rejects(auth.merchantOf(`Bearer ${guess}`), unauthorized)
    assert.equal(seen.queries, 1)
    // …and accepted once the period is over.
    now += 2
    assert.equal(await auth.merchantOf(`Bearer ${guess}`), 'm-1')
    assert.equal(seen.queries, 2)

    assert.equal(await auth.merchantOf(`Bearer ${issued.key}`), 'm-1')
    assert.equal(await auth.merchantOf(`Bearer ${issued.key}`), 'm-1')
    assert.equal(seen.queries, 3, 'a known key is cached too')
  })
}
