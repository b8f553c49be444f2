import assert from 'node:assert/strict'
import { test } from 'node:test'
import { GroupCommitter } from '../../src/db/group-commit.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

/** Sizes of the committed transactions and how many batches split, as the api's metrics see them. */
function recorder() {
  const sizes: number[] = []
  let splits = 0
  return {
    sizes,
    splits: () => splits,
    observer: { committed: (size: number) => sizes.push(size), split: () => splits++ },
  }
}

test('group commit options are checked once, naming the field', () => {
  assert.throws(
    () => new GroupCommitter({} as never, { maxBatch: 0 }),
    (error: unknown) =>
      hasErrorCode(error, 'CONFIG_INVALID') && /groupCommit\.maxBatch=0/.test(String(error)),
  )
})

for (const dialect of dialects) {
  test(`${dialect}: concurrent units share transactions, and each is answered only after its commit`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const handle = database.open(4)
    const { db } = handle
    const other = database.open(1).db // another connection: sees only what was committed
    await migrateToLatest(db, dialect)
    const seen = recorder()
    const committer = new GroupCommitter(handle, { maxBatch: 8, lanes: 1 }, seen.observer)
    const ids = Array.from({ length: 30 }, (_, i) => `m-${i}`)
    const visibleWhenAnswered = await Promise.all(
      ids.map(async (id) => {
        await committer.run((trx) =>
          trx.insertInto('merchants').values({ id, name: id, created_at: 1 }).execute(),
        )
        const row = await other.selectFrom('merchants').select('id').where('id', '=', id).executeTakeFirst()
        return row !== undefined
      }),
    )
    assert.deepEqual(
      visibleWhenAnswered,
      ids.map(() => true),
    )
    assert.equal(
      seen.sizes.reduce((a, b) => a + b, 0),
      30,
    )
    assert.ok(Math.max(...seen.sizes) > 1, `some transaction held several units: ${seen.sizes}`)
    assert.ok(Math.max(...seen.sizes) <= 8, `no transaction held more than maxBatch: ${seen.sizes}`)
    assert.equal(seen.splits(), 0)
  })

  test(`${dialect}: a failing unit gets its own error and its neighbours still commit`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const handle = database.open(4)
    const { db } = handle
    await migrateToLatest(db, dialect)
    await db.insertInto('merchants').values({ id: 'taken', name: 'x', created_at: 1 }).execute()
    const seen = recorder()
    const committer = new GroupCommitter(handle, { maxBatch: 16, lanes: 1 }, seen.observer)
    // The first unit occupies the lane, so the next ten wait and go as one batch.
    const first = committer.run((trx) =>
      trx.insertInto('merchants').values({ id: 'first', name: 'x', created_at: 1 }).execute(),
    )
    const ids = Array.from({ length: 10 }, (_, i) => (i === 4 ? 'taken' : `n-${i}`))
    const settled = await Promise.allSettled([
      first,
      ...ids.map((id) =>
        committer.run((trx) =>
          trx.insertInto('merchants').values({ id, name: 'y', created_at: 2 }).execute(),
        ),
      ),
    ])
    assert.deepEqual(
      settled.map((result) => result.status),
      ['fulfilled', ...ids.map((id) => (id === 'taken' ? 'rejected' : 'fulfilled'))],
    )
    assert.equal(seen.splits(), 1, `the batch with the duplicate split once: ${seen.sizes}`)
    const rows = await db.selectFrom('merchants').select(['id', 'name']).orderBy('id').execute()
    assert.deepEqual(
      rows.map((row) => `${row.id}:${row.name}`),
      ['first:x', ...ids.filter((id) => id !== 'taken').map((id) => `${id}:y`), 'taken:x'].sort(),
    )
  })

  test(`${dialect}: waitMs lets units of later turns join a batch, and a full batch starts at once`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const handle = database.open(4)
    const { db } = handle
    await migrateToLatest(db, dialect)
    const insert = (committer: GroupCommitter, id: string) =>
      committer.run((trx) => trx.insertInto('merchants').values({ id, name: id, created_at: 1 }).execute())
    const spaced = async (committer: GroupCommitter, prefix: string) => {
      const runs: Promise<unknown>[] = []
      for (let i = 0; i < 4; i++) {
        runs.push(insert(committer, `${prefix}-${i}`))
        await new Promise((resolve) => setTimeout(resolve, 5)) // a later turn of the event loop
      }
      await Promise.all(runs)
    }
    const waiting = recorder()
    await spaced(new GroupCommitter(handle, { maxBatch: 64, lanes: 1, waitMs: 200 }, waiting.observer), 'w')
    assert.deepEqual(waiting.sizes, [4], 'four units 5 ms apart met in one transaction')
    const eager = recorder()
    await spaced(new GroupCommitter(handle, { maxBatch: 64, lanes: 1, waitMs: 0 }, eager.observer), 'e')
    assert.ok(eager.sizes.length > 1, `without a wait they did not all meet: ${eager.sizes}`)
    const full = recorder()
    const started = Date.now()
    const committer = new GroupCommitter(handle, { maxBatch: 4, lanes: 1, waitMs: 1000 }, full.observer)
    await Promise.all(['f-0', 'f-1', 'f-2', 'f-3'].map((id) => insert(committer, id)))
    assert.ok(Date.now() - started < 800, 'a full batch did not wait for waitMs')
    assert.deepEqual(full.sizes, [4])
  })

  test(`${dialect}: with maxBatch 1 every unit is a transaction of its own`, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const handle = database.open(4)
    const { db } = handle
    await migrateToLatest(db, dialect)
    const seen = recorder()
    const committer = new GroupCommitter(handle, { maxBatch: 1 }, seen.observer)
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        committer.run((trx) =>
          trx
            .insertInto('merchants')
            .values({ id: `o-${i}`, name: 'z', created_at: 1 })
            .execute(),
        ),
      ),
    )
    assert.equal(seen.sizes.length, 0, 'no batching at all, so nothing to observe')
    const count = await db
      .selectFrom('merchants')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst()
    assert.equal(Number(count?.n), 6)
  })
}
