import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import { isUniqueViolation } from '../db/errors.ts'
import type { Database } from '../db/schema.ts'
import { resolveOptions, wholeNumber } from '../runtime/options.ts'
import { OUTBOX_BUCKETS } from './buckets.ts'

export interface LeaseOptions {
  db: Kysely<Database>
  /** This relay's name in `outbox_leases.owner`. Default: host, pid and a random suffix. */
  instanceId?: string
  /** How long a lease lasts without renewal. Default: 10000 ms (OUTBOX_LEASE_MS). */
  leaseMs?: number
  /**
   * How long an expired lease stays untouched before another instance takes it: longer than the
   * old owner's longest send, so that its last records are acked or failed before the new owner
   * publishes the bucket. Default: 5000 ms.
   */
  graceMs?: number
  /** Default: `Date.now`. */
  now?: () => number
}

export const defaultLeaseOptions = {
  leaseMs: 10_000,
  graceMs: 5000,
  now: Date.now,
} satisfies Partial<LeaseOptions>

const schema = Type.Object({ leaseMs: wholeNumber(1), graceMs: wholeNumber(0) })

interface Held {
  token: number
  expiresAt: number
}

function newInstanceId(): string {
  return `${hostname().slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`
}

/**
 * Divides the outbox buckets among the live relays. Each heartbeat renews this instance's
 * leases, counts the live instances, gives back buckets above its fair share and takes free or
 * long-expired ones up to it. An instance publishes a bucket only while its lease has time left
 * (see `usable`); the token that changes with every owner fences a stale one out of the table.
 */
export class LeaseManager {
  readonly id: string
  readonly #db: Kysely<Database>
  readonly #leaseMs: number
  readonly #graceMs: number
  readonly #now: () => number
  #held = new Map<number, Held>()

  constructor(options: LeaseOptions) {
    const resolved = resolveOptions('leaseManager', schema, defaultLeaseOptions, options)
    this.#db = options.db
    this.id = options.instanceId ?? newInstanceId()
    this.#leaseMs = resolved.leaseMs
    this.#graceMs = resolved.graceMs
    this.#now = resolved.now
  }

  get leaseMs(): number {
    return this.#leaseMs
  }

  /** Buckets whose lease lasts at least `marginMs` more: safe to start a send on. */
  usable(marginMs: number): number[] {
    const limit = this.#now() + marginMs
    return [...this.#held].filter(([, held]) => held.expiresAt > limit).map(([bucket]) => bucket)
  }

  held(): number {
    return this.#held.size
  }

  async heartbeat(breakerState = 'closed'): Promise<void> {
    const now = this.#now()
    await this.#announce(now, breakerState)
    await this.#db
      .updateTable('outbox_leases')
      .set({ expires_at: now + this.#leaseMs })
      .where('owner', '=', this.id)
      .execute()
    await this.#reload()

    const live = await this.#db
      .selectFrom('relay_instances')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('heartbeat_at', '>', now - this.#leaseMs)
      .executeTakeFirstOrThrow()
    const share = Math.ceil(OUTBOX_BUCKETS / Math.max(1, Number(live.n)))

    if (this.#held.size > share) {
      const extra = [...this.#held.keys()].sort((a, b) => b - a).slice(0, this.#held.size - share)
      await this.#db
        .updateTable('outbox_leases')
        .set({ owner: null, expires_at: 0 })
        .where('owner', '=', this.id)
        .where('bucket', 'in', extra)
        .execute()
    } else if (this.#held.size < share) {
      const free = await this.#db
        .selectFrom('outbox_leases')
        .select('bucket')
        .where((eb) => eb.or([eb('owner', 'is', null), eb('expires_at', '<', now - this.#graceMs)]))
        .orderBy('bucket')
        .limit(share - this.#held.size)
        .execute()
      for (const { bucket } of free) {
        // The condition is repeated: another instance may have taken it since the select.
        await this.#db
          .updateTable('outbox_leases')
          .set((eb) => ({ owner: this.id, token: eb('token', '+', 1), expires_at: now + this.#leaseMs }))
          .where('bucket', '=', bucket)
          .where((eb) => eb.or([eb('owner', 'is', null), eb('expires_at', '<', now - this.#graceMs)]))
          .execute()
      }
    }
    await this.#reload()
  }

  /** Gives every bucket back at once, for a clean stop; another relay may take them immediately. */
  async releaseAll(): Promise<void> {
    await this.#db
      .updateTable('outbox_leases')
      .set({ owner: null, expires_at: 0 })
      .where('owner', '=', this.id)
      .execute()
    await this.#db.deleteFrom('relay_instances').where('id', '=', this.id).execute()
    this.#held.clear()
  }

  async #announce(now: number, breakerState: string): Promise<void> {
    const updated = await this.#db
      .updateTable('relay_instances')
      .set({ heartbeat_at: now, breaker_state: breakerState })
      .where('id', '=', this.id)
      .executeTakeFirst()
    if (Number(updated.numUpdatedRows) > 0) return
    try {
      await this.#db
        .insertInto('relay_instances')
        .values({ id: this.id, heartbeat_at: now, breaker_state: breakerState })
        .execute()
    } catch (error) {
      if (!isUniqueViolation(error)) throw error
    }
    // Instances silent for ten lease periods are gone; their rows only skew the fair share.
    await this.#db
      .deleteFrom('relay_instances')
      .where('heartbeat_at', '<', now - 10 * this.#leaseMs)
      .execute()
  }

  async #reload(): Promise<void> {
    const rows = await this.#db
      .selectFrom('outbox_leases')
      .select(['bucket', 'token', 'expires_at'])
      .where('owner', '=', this.id)
      .execute()
    this.#held = new Map(
      rows.map((row) => [row.bucket, { token: Number(row.token), expiresAt: Number(row.expires_at) }]),
    )
  }
}
