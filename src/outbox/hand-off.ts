import type { OutboxRecord } from './writer.ts'

/**
 * Receives outbox rows right after their transaction committed, so a relay in the same process
 * can publish them without waiting for its next poll. It must return at once and never throw:
 * a row it does not take stays in the table, where the relay's poll finds it.
 */
export interface CommitHandOff {
  handOff(records: readonly OutboxRecord[]): void
}

/** The hand-off when no relay runs in this process: rows wait in the table for the poll. */
export const tableOnlyHandOff: CommitHandOff = {
  handOff() {},
}
