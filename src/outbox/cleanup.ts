import type { RetentionTask } from '../db/retention.ts'
import type { OutboxStore } from './store.ts'

/**
 * Published outbox rows created longer ago than `retentionMs` (OUTBOX_RETENTION, default 24 h);
 * never a row still in a queue. The walk goes up by id: rows are created in id order, so the
 * first row young enough ends it.
 */
export function outboxRetention(store: OutboxStore, retentionMs: number): RetentionTask {
  return {
    name: 'outbox_events',
    retentionMs,
    prune: async (cutoff, batch, after) => {
      const step = await store.deletePublishedBefore(cutoff, batch, after)
      return { deleted: step.deleted, done: step.reachedCutoff || step.scanned < batch, cursor: step.last }
    },
  }
}
