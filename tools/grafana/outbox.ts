import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as units from '@grafana/grafana-foundation-sdk/units'
import { breakerMappings, graph, labelVariable, payrailDashboard, single } from './panels.ts'
import { matches, mean, quantile, series, sumRate } from './promql.ts'

// A relay runs as the relay role or embedded in an api process (API_EMBEDDED_RELAY), so these
// queries select relays by scraped instance, never by role.
const relay = matches('instance')
const PENDING = { expr: `max(${series('payrail_outbox_pending', relay)})`, legend: 'pending' }
// Red at the outbox alert's 60 s (deploy/prometheus); orange at 5 s, since a healthy relay has an
// event acknowledged 17-24 ms (p99, README Benchmarks) after its row was created.
const OLDEST_AGE = {
  unit: units.Seconds,
  warnAt: 5,
  badAt: 60,
  queries: [{ expr: `max(${series('payrail_outbox_oldest_pending_age_seconds', relay)})`, legend: 'oldest' }],
}

export function outboxDashboard(): dashboard.Dashboard {
  return payrailDashboard({
    uid: 'payrail-outbox',
    title: 'payrail / Outbox and relay',
    description:
      'The outbox backlog, what the relays publish to Kafka and how fast, their breakers and leases',
    variables: [labelVariable('instance', 'instance', 'payrail_outbox_buckets_held')],
    rows: [
      {
        title: 'Backlog',
        panels: [
          single({
            title: 'Pending events',
            description:
              'Outbox rows not yet acknowledged by Kafka (payrail_outbox_pending; every relay measures the whole table, the largest is shown).',
            unit: units.Short,
            warnAt: 1000,
            badAt: 10000,
            queries: [PENDING],
          }),
          single({
            title: 'Oldest pending age',
            description:
              'Age of the oldest outbox row not yet published: how late the events reaching Kafka now are.',
            ...OLDEST_AGE,
          }),
          single({
            title: 'Since the last publish',
            description:
              'Seconds since any relay last had a batch acknowledged by Kafka (payrail_outbox_last_publish_timestamp_seconds, 0 until the first, left out); grows while nothing is published, also when there is nothing to publish.',
            unit: units.Seconds,
            queries: [
              {
                expr: `time() - max(${series('payrail_outbox_last_publish_timestamp_seconds', relay)} > 0)`,
                legend: 'since last publish',
              },
            ],
          }),
          single({
            title: 'Dead events in the range',
            description:
              'Events the relays gave up on and sent to payment.dlq over the time range (replay them with `payrail dlq replay`).',
            unit: units.Short,
            badAt: 1,
            queries: [
              {
                expr: `sum(increase(${series('payrail_outbox_dead_letters_total', relay)}[$__range]))`,
                legend: 'dead',
              },
            ],
          }),
          graph({
            title: 'Pending events',
            description:
              'Unpublished outbox rows over time; a line that keeps rising means the relays fall behind.',
            unit: units.Short,
            queries: [PENDING],
          }),
          graph({
            title: 'Oldest pending age',
            description: 'Age of the oldest unpublished outbox row over time.',
            ...OLDEST_AGE,
          }),
        ],
      },
      {
        title: 'Publishing',
        panels: [
          graph({
            title: 'Published events/s by topic',
            description: 'Outbox events acknowledged by Kafka per topic, all relays.',
            unit: units.OpsPerSecond,
            queries: [
              { expr: sumRate('topic', 'payrail_outbox_published_total', relay), legend: '{{topic}}' },
            ],
          }),
          graph({
            title: 'Published events/s per relay',
            description:
              'Outbox events acknowledged by Kafka per relay process: how the buckets share the work.',
            unit: units.OpsPerSecond,
            queries: [
              { expr: sumRate('instance', 'payrail_outbox_published_total', relay), legend: '{{instance}}' },
            ],
          }),
          graph({
            title: 'Batch size',
            description:
              'Events per send to Kafka: median, 99th percentile and mean (payrail_outbox_batch_size); bigger batches under load are the relay keeping up.',
            unit: units.Short,
            queries: [
              { expr: quantile(0.5, 'payrail_outbox_batch_size', '', relay), legend: 'p50' },
              { expr: quantile(0.99, 'payrail_outbox_batch_size', '', relay), legend: 'p99' },
              { expr: mean('payrail_outbox_batch_size', '', relay), legend: 'mean' },
            ],
          }),
          graph({
            title: 'Commit to acknowledgement',
            description:
              'Time from an outbox row’s creation (inside the writing transaction, so that transaction counts too) to its acknowledgement by Kafka (payrail_outbox_commit_to_ack_seconds): the delay the outbox adds to every event.',
            unit: units.Seconds,
            queries: [
              { expr: quantile(0.5, 'payrail_outbox_commit_to_ack_seconds', '', relay), legend: 'p50' },
              { expr: quantile(0.99, 'payrail_outbox_commit_to_ack_seconds', '', relay), legend: 'p99' },
            ],
          }),
          graph({
            title: 'Failed sends/s by reason',
            description:
              'Sends that failed: outage (cluster unavailable), record (refused by the broker), breaker_open (not tried while the breaker is open).',
            unit: units.OpsPerSecond,
            queries: [
              { expr: sumRate('reason', 'payrail_outbox_failures_total', relay), legend: '{{reason}}' },
            ],
          }),
          graph({
            title: 'Backlog scans/s per relay',
            description:
              'Scans of the outbox that reached its end, per relay; an idle relay adds one per poll interval, none means the relay is stuck or busy with a long backlog.',
            unit: units.OpsPerSecond,
            queries: [
              { expr: sumRate('instance', 'payrail_outbox_scans_total', relay), legend: '{{instance}}' },
            ],
          }),
        ],
      },
      {
        title: 'Relays',
        panels: [
          graph({
            title: 'Kafka breaker per relay',
            description:
              'Each relay’s Kafka circuit breaker: closed (sending), half-open (trying one send), open (not sending, waiting).',
            unit: units.NoUnit,
            stepped: true,
            min: 0,
            max: 2,
            mappings: breakerMappings(),
            queries: [
              {
                expr: `max by (instance) (${series('payrail_outbox_breaker_state', relay)})`,
                legend: '{{instance}}',
              },
            ],
          }),
          graph({
            title: 'Leased buckets per relay',
            description:
              'Outbox buckets each relay holds the lease of (payrail_outbox_buckets_held); together they should cover every bucket, and a relay that holds none publishes nothing.',
            unit: units.Short,
            stepped: true,
            queries: [
              {
                expr: `sum by (instance) (${series('payrail_outbox_buckets_held', relay)})`,
                legend: '{{instance}}',
              },
            ],
          }),
        ],
      },
    ],
  })
}
