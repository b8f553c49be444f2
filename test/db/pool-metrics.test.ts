import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sql } from 'kysely'
import { Registry } from 'prom-client'
import { createPoolMetrics } from '../../src/db/pool-metrics.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'
import { sample } from '../helpers/gateway.ts'
import { until } from '../helpers/until.ts'

for (const dialect of dialects) {
  test(`${dialect}: the pool metrics count connections in use, waits, and waits that end in DATABASE_BUSY`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const registry = new Registry()
    const acquireTimeoutMs = 200
    const { db } = database.open(2, { acquireTimeoutMs, poolObserver: createPoolMetrics(registry)() })
    const read = async (name: string) => sample(await registry.metrics(), name)
    const size = dialect === 'sqlite' ? 1 : 2
    assert.equal(await read('payrail_db_pool_max'), size)
    assert.equal(await read('payrail_db_pool_connections_in_use'), 0)

    // Every connection held by a transaction that waits for `release`.
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    let taken = 0
    const holders = Array.from({ length: size }, () =>
      db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx)
        taken++
        await held
      }),
    )
    // A failed assertion must not leave the holders waiting: the handle would never close.
    try {
      await until('every connection to be held', () => taken === size)
      assert.equal(await read('payrail_db_pool_connections_in_use'), size)
      assert.equal(await read('payrail_db_pool_waiting'), 0)

      const extra = sql`select 1`.execute(db).then(
        () => undefined,
        (error: unknown) => error,
      )
      await until(
        'the extra query to wait for a connection',
        async () => (await read('payrail_db_pool_waiting')) === 1,
      )
      assert.equal(((await extra) as { code?: string } | undefined)?.code, 'DATABASE_BUSY')
      assert.equal(await read('payrail_db_pool_acquire_timeouts_total'), 1)
      assert.equal(await read('payrail_db_pool_waiting'), 0)
      assert.equal(await read('payrail_db_pool_connections_in_use'), size)
    } finally {
      release()
    }
    await Promise.all(holders)
    await until(
      'every connection to be back',
      async () => (await read('payrail_db_pool_connections_in_use')) === 0,
    )
    assert.equal(
      await read('payrail_db_pool_acquire_seconds_count'),
      size + 1,
      'the held ones and the one that timed out',
    )
    assert.ok((await read('payrail_db_pool_acquire_seconds_sum')) >= acquireTimeoutMs / 1000)
  })
}

test('a role with several pools labels each; an unknown pool is refused', async () => {
  const registry = new Registry()
  const observerOf = createPoolMetrics(registry, ['main', 'relay'])
  const main = observerOf('main')
  observerOf('relay').sized(8)
  main.sized(20)
  main.waiting()
  main.acquired(0.001)
  const text = await registry.metrics()
  assert.match(text, /payrail_db_pool_connections_in_use\{pool="main"\} 1/)
  assert.match(text, /payrail_db_pool_max\{pool="relay"\} 8/)
  assert.throws(() => observerOf('other'), /database pool other is not one of \[main, relay\]/)
  assert.throws(() => observerOf(), /database pool \(unnamed\)/)
})
