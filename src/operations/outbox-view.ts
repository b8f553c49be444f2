/**
 * GET /api/admin/outbox: `payrail outbox status` (backlog, dead count, relays) plus each relay's
 * leased buckets and the publish rate from the relays' metrics (an api with the embedded relay
 * counts too). The database part is a handful of key lookups and the 64 lease rows.
 */
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { sumOf } from '../observability/exposition.ts'
import { type OutboxStatus, outboxStatus } from '../outbox/status.ts'
import { increases, samplesOfRole } from './increase.ts'
import type { RoleSampler } from './role-sampler.ts'

export interface OutboxView extends Omit<OutboxStatus, 'relays'> {
  relays: (OutboxStatus['relays'][number] & { buckets: number[]; leaseExpiresInSeconds: number | null })[]
  buckets: number
  unleasedBuckets: number
  publishedPerSecond: number | null
  publishedTotal: number | null
}

const PUBLISHED = 'payrail_outbox_published_total'
/** Roles whose metrics may carry the relay's counters. */
const PUBLISHERS = ['relay', 'api']

export async function outboxView(
  db: Kysely<Database>,
  sampler: RoleSampler | undefined,
  now: () => number = Date.now,
): Promise<OutboxView> {
  const at = now()
  const [status, leases, scrapes] = await Promise.all([
    outboxStatus(db, at),
    db.selectFrom('outbox_leases').select(['bucket', 'owner', 'expires_at']).orderBy('bucket').execute(),
    sampler?.latest(),
  ])
  const live = leases.filter((lease) => lease.owner !== null && Number(lease.expires_at) > at)
  const relays = status.relays.map((relay) => {
    const held = live.filter((lease) => lease.owner === relay.id)
    return {
      ...relay,
      buckets: held.map((lease) => Number(lease.bucket)),
      leaseExpiresInSeconds:
        held.length === 0 ? null : Math.min(...held.map((lease) => (Number(lease.expires_at) - at) / 1000)),
    }
  })
  const current = scrapes?.current
  const previous = scrapes?.previous
  const answering = PUBLISHERS.flatMap((role) => samplesOfRole(current?.roles ?? [], role))
  const publishedTotal = answering.some((s) => s.name === PUBLISHED) ? sumOf(answering, PUBLISHED) : null
  let publishedPerSecond: number | null = null
  if (
    current !== undefined &&
    previous !== undefined &&
    publishedTotal !== null &&
    current.at > previous.at
  ) {
    const added = PUBLISHERS.flatMap((role) => increases(current.roles, previous.roles, role, [PUBLISHED]))
    publishedPerSecond = sumOf(added, PUBLISHED) / ((current.at - previous.at) / 1000)
  }
  return {
    ...status,
    relays,
    buckets: leases.length,
    unleasedBuckets: leases.length - live.length,
    publishedPerSecond,
    publishedTotal,
  }
}
