import type { Kysely } from 'kysely'
import type { RetentionTask } from '../db/retention.ts'
import type { Database } from '../db/schema.ts'

/**
 * The delivery log of settled deliveries (DELIVERED or FAILED, last changed before the cutoff),
 * with their attempts: WEBHOOK_LOG_RETENTION. PENDING ones are never pruned.
 */
export function webhookLogRetention(db: Kysely<Database>, retentionMs: number): RetentionTask {
  return {
    name: 'webhook_deliveries',
    retentionMs,
    prune: async (cutoff, batch) => {
      const rows = await db
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('state', 'in', ['DELIVERED', 'FAILED'])
        .where('updated_at', '<', cutoff)
        .limit(batch)
        .execute()
      if (rows.length === 0) return { deleted: 0, done: true, cursor: 0 }
      const ids = rows.map((row) => row.id)
      const deleted = await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).execute()
        return trx.deleteFrom('webhook_deliveries').where('id', 'in', ids).executeTakeFirst()
      })
      return { deleted: Number(deleted.numDeletedRows), done: rows.length < batch, cursor: 0 }
    },
  }
}
