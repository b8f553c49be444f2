import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as units from '@grafana/grafana-foundation-sdk/units'
import { graph, labelVariable, payrailDashboard, single } from './panels.ts'
import { matches, quantile, series, sumRate } from './promql.ts'

const handler = matches('handler')
const instance = matches('instance')

export function workersDashboard(): dashboard.Dashboard {
  return payrailDashboard({
    uid: 'payrail-workers',
    title: 'payrail / Workers and Kafka',
    description:
      'What the settlement, refund and ledger consumers process, their lag per partition, in-flight work and dead letters',
    variables: [
      labelVariable('handler', 'handler', 'payrail_worker_in_flight'),
      labelVariable('instance', 'instance', 'payrail_worker_partitions_assigned'),
    ],
    rows: [
      {
        title: 'Processing',
        panels: [
          graph({
            title: 'Records processed/s by handler and outcome',
            description:
              'Records each handler is done with: ok, dead_letter, or what the handler named (e.g. duplicate, an event applied before).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('handler, outcome', 'payrail_worker_processed_total', handler, instance),
                legend: '{{handler}} {{outcome}}',
              },
            ],
          }),
          graph({
            title: 'Handler call duration p99',
            description:
              '99th percentile of one handler call per handler (payrail_worker_processing_seconds); settlement and refund include the acquirer call.',
            unit: units.Seconds,
            queries: [
              {
                expr: quantile(0.99, 'payrail_worker_processing_seconds', 'handler', handler, instance),
                legend: '{{handler}}',
              },
            ],
          }),
          graph({
            title: 'Retries/s by handler and reason',
            description:
              'Failed handler calls that will be tried again: failure (counts towards the attempts before the dead-letter topic) or outage (a dependency is down; not counted).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('handler, reason', 'payrail_worker_retries_total', handler, instance),
                legend: '{{handler}} {{reason}}',
              },
            ],
          }),
          graph({
            title: 'Dead letters/s by handler',
            description:
              'Records a handler gave up on and sent to payment.dlq (list and replay them with `payrail dlq`).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('handler', 'payrail_worker_dead_letters_total', handler, instance),
                legend: '{{handler}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Lag',
        panels: [
          single({
            title: 'Lag in records by handler',
            description: 'Records of every partition a handler consumes that are not finished yet, summed.',
            unit: units.Short,
            warnAt: 1000,
            badAt: 10000,
            queries: [
              {
                expr: `sum by (handler) (${series('payrail_worker_lag', handler, instance)})`,
                legend: '{{handler}}',
              },
            ],
          }),
          single({
            title: 'Lag in seconds by handler',
            description:
              'Age of the oldest record a handler has not finished, its worst partition (payrail_worker_lag_seconds, from Kafka record timestamps).',
            unit: units.Seconds,
            warnAt: 10,
            badAt: 60,
            queries: [
              {
                expr: `max by (handler) (${series('payrail_worker_lag_seconds', handler, instance)})`,
                legend: '{{handler}}',
              },
            ],
          }),
          single({
            title: 'Dead letters in the range',
            description: 'Records sent to payment.dlq over the time range, per handler.',
            unit: units.Short,
            badAt: 1,
            queries: [
              {
                expr: `sum by (handler) (increase(${series('payrail_worker_dead_letters_total', handler, instance)}[$__range]))`,
                legend: '{{handler}}',
              },
            ],
          }),
          single({
            title: 'Partitions assigned',
            description:
              'Partitions each handler owns across its processes; fewer than the topic has means part of it is not consumed.',
            unit: units.Short,
            queries: [
              {
                expr: `sum by (handler) (${series('payrail_worker_partitions_assigned', handler, instance)})`,
                legend: '{{handler}}',
              },
            ],
          }),
          graph({
            title: 'Lag per partition (records)',
            description:
              'End offset minus committed position per handler, topic and partition (payrail_worker_lag).',
            unit: units.Short,
            queries: [
              {
                expr: `max by (handler, topic, partition) (${series('payrail_worker_lag', handler, instance)})`,
                legend: '{{handler}} {{topic}}/{{partition}}',
              },
            ],
          }),
          graph({
            title: 'Lag per partition (seconds)',
            description:
              'Age of the oldest unfinished record per handler, topic and partition; 0 when caught up (payrail_worker_lag_seconds).',
            unit: units.Seconds,
            warnAt: 10,
            badAt: 60,
            queries: [
              {
                expr: `max by (handler, topic, partition) (${series('payrail_worker_lag_seconds', handler, instance)})`,
                legend: '{{handler}} {{topic}}/{{partition}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Consumers',
        panels: [
          graph({
            title: 'In flight per process',
            description:
              'Records whose handler is running or which wait to be retried, per handler and worker process.',
            unit: units.Short,
            span: 8,
            queries: [
              {
                expr: `sum by (handler, instance) (${series('payrail_worker_in_flight', handler, instance)})`,
                legend: '{{handler}} {{instance}}',
              },
            ],
          }),
          graph({
            title: 'Queued behind their key',
            description:
              'Records taken from Kafka that wait for an earlier record of the same payment to finish (order per key).',
            unit: units.Short,
            span: 8,
            queries: [
              {
                expr: `sum by (handler, instance) (${series('payrail_worker_queued', handler, instance)})`,
                legend: '{{handler}} {{instance}}',
              },
            ],
          }),
          graph({
            title: 'Partitions per process',
            description: 'Partitions each consumer owns; a rebalance shows as a step.',
            unit: units.Short,
            span: 8,
            stepped: true,
            queries: [
              {
                expr: `sum by (handler, instance) (${series('payrail_worker_partitions_assigned', handler, instance)})`,
                legend: '{{handler}} {{instance}}',
              },
            ],
          }),
        ],
      },
    ],
  })
}
