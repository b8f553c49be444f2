import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as units from '@grafana/grafana-foundation-sdk/units'
import { graph, labelTable, labelVariable, payrailDashboard, single } from './panels.ts'
import { matches, quantile, series, sumBy, sumRate } from './promql.ts'

const role = matches('role')
const instance = matches('instance')
const PROCESS = 'role, instance'

/** `sum by (role, instance) (metric{role, instance})`: one series per process. */
function perProcess(metric: string, ...matchers: string[]): string {
  return `${sumBy(PROCESS)}(${series(metric, role, instance, ...matchers)})`
}

export function processesDashboard(): dashboard.Dashboard {
  return payrailDashboard({
    uid: 'payrail-processes',
    title: 'payrail / Database and processes',
    description: 'Database connection pools, group commit, and every process’s event loop, CPU and memory',
    variables: [
      labelVariable('role', 'role', 'payrail_build_info'),
      labelVariable('instance', 'instance', `payrail_build_info{${role}}`),
    ],
    rows: [
      {
        title: 'Database pool',
        panels: [
          graph({
            title: 'Pool use per process',
            description:
              'Connections in use divided by the pool size (payrail_db_pool_connections_in_use / payrail_db_pool_max; SQLite has one connection, taken in turns); at 100 % requests wait, and after DB_POOL_ACQUIRE_TIMEOUT_MS the api answers 503 DATABASE_BUSY.',
            unit: units.PercentUnit,
            min: 0,
            max: 1,
            warnAt: 0.8,
            badAt: 0.95,
            queries: [
              {
                expr: `${perProcess('payrail_db_pool_connections_in_use')} / ${perProcess('payrail_db_pool_max')}`,
                legend: '{{role}} {{instance}}',
              },
            ],
          }),
          graph({
            title: 'Waiting for a connection',
            description:
              'Acquisitions waiting for a free database connection, per process (payrail_db_pool_waiting).',
            unit: units.Short,
            queries: [{ expr: perProcess('payrail_db_pool_waiting'), legend: '{{role}} {{instance}}' }],
          }),
          graph({
            title: 'Connection wait p99',
            description:
              '99th percentile of the wait for a database connection per role (payrail_db_pool_acquire_seconds).',
            unit: units.Seconds,
            queries: [
              {
                expr: quantile(0.99, 'payrail_db_pool_acquire_seconds', 'role', role, instance),
                legend: '{{role}}',
              },
            ],
          }),
          graph({
            title: 'Acquire timeouts/s',
            description:
              'Waits for a database connection that ended in DATABASE_BUSY (in the api a 503 after DB_POOL_ACQUIRE_TIMEOUT_MS), per role.',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('role', 'payrail_db_pool_acquire_timeouts_total', role, instance),
                legend: '{{role}}',
              },
            ],
          }),
          graph({
            title: 'Group commit size',
            description:
              'Requests whose writes one api transaction committed (payrail_db_group_commit_size; 1: alone): median, 99th percentile.',
            unit: units.Short,
            queries: [
              { expr: quantile(0.5, 'payrail_db_group_commit_size', '', role, instance), legend: 'p50' },
              { expr: quantile(0.99, 'payrail_db_group_commit_size', '', role, instance), legend: 'p99' },
            ],
          }),
          graph({
            title: 'Group commit splits/s',
            description:
              'Group-commit batches that failed and ran again request by request (payrail_db_group_commit_splits_total).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('instance', 'payrail_db_group_commit_splits_total', role, instance),
                legend: '{{instance}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Processes',
        panels: [
          graph({
            title: 'Event-loop lag p99',
            description:
              '99th percentile of the event-loop delay per process (payrail_nodejs_eventloop_lag_p99_seconds): time every callback, timer and answer of that process waited.',
            unit: units.Seconds,
            warnAt: 0.05,
            badAt: 0.2,
            queries: [
              {
                expr: `${sumBy(PROCESS)}(${series('payrail_nodejs_eventloop_lag_p99_seconds', role, instance)})`,
                legend: '{{role}} {{instance}}',
              },
            ],
          }),
          graph({
            title: 'CPU',
            description: 'CPU time per second of wall time per process: 100 % is one core fully used.',
            unit: units.PercentUnit,
            queries: [
              {
                expr: sumRate(PROCESS, 'payrail_process_cpu_seconds_total', role, instance),
                legend: '{{role}} {{instance}}',
              },
            ],
          }),
          graph({
            title: 'Resident memory',
            description: 'Resident set size per process (payrail_process_resident_memory_bytes).',
            unit: units.BytesIEC,
            queries: [
              { expr: perProcess('payrail_process_resident_memory_bytes'), legend: '{{role}} {{instance}}' },
            ],
          }),
          graph({
            title: 'JavaScript heap used',
            description:
              'V8 heap in use per process (payrail_nodejs_heap_size_used_bytes); a rise that never falls back is a leak.',
            unit: units.BytesIEC,
            queries: [
              { expr: perProcess('payrail_nodejs_heap_size_used_bytes'), legend: '{{role}} {{instance}}' },
            ],
          }),
          graph({
            title: 'Time in garbage collection',
            description:
              'Share of wall time each process spent in garbage collection (payrail_nodejs_gc_duration_seconds).',
            unit: units.PercentUnit,
            queries: [
              {
                expr: sumRate(PROCESS, 'payrail_nodejs_gc_duration_seconds_sum', role, instance),
                legend: '{{role}} {{instance}}',
              },
            ],
          }),
          single({
            title: 'Restarts in the range',
            description:
              'Processes of each role that started again over the time range (changes of payrail_process_start_time_seconds per instance).',
            unit: units.Short,
            span: 12,
            height: 8,
            badAt: 1,
            queries: [
              {
                expr: `sum by (role) (changes(${series('payrail_process_start_time_seconds', role, instance)}[$__range]))`,
                legend: '{{role}}',
              },
            ],
          }),
          labelTable({
            title: 'Versions',
            description:
              'Each process Prometheus scrapes: its role, payrail version and Node version (payrail_build_info).',
            unit: units.NoUnit,
            queries: [
              { expr: series('payrail_build_info', role, instance), legend: '{{role}} {{instance}}' },
            ],
          }),
        ],
      },
    ],
  })
}
