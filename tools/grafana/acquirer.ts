import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as units from '@grafana/grafana-foundation-sdk/units'
import { breakerMappings, graph, labelVariable, payrailDashboard, single } from './panels.ts'
import { matches, quantile, series, sumRate } from './promql.ts'

const operation = matches('operation')
const CALLS = 'payrail_acquirer_request_duration_seconds'

/**
 * The acquirer seen from both sides: the calls payrail makes (their latency as the api and the
 * workers measure it, the outcomes, the breakers) and what the simulator answered.
 */
export function acquirerDashboard(): dashboard.Dashboard {
  return payrailDashboard({
    uid: 'payrail-acquirer',
    title: 'payrail / Acquirer',
    description:
      'Latency and outcomes of the card-processor calls, the authorize recovery sweep and the breakers',
    variables: [labelVariable('operation', 'operation', 'payrail_acquirer_breaker_state')],
    rows: [
      {
        title: 'Breakers',
        panels: [
          single({
            title: 'Breaker state by operation',
            description:
              'The worst acquirer circuit breaker of each operation across the api and worker processes: closed, half-open (trying one call), open (calls refused at once, authorize answers 503 ACQUIRER_UNAVAILABLE).',
            unit: units.NoUnit,
            span: 24,
            mappings: breakerMappings(),
            queries: [
              {
                expr: `max by (operation) (${series('payrail_acquirer_breaker_state', operation)})`,
                legend: '{{operation}}',
              },
            ],
          }),
          graph({
            title: 'Breaker state per process',
            description:
              'Each process’s acquirer breaker per operation over time (0 closed, 1 half-open, 2 open).',
            unit: units.NoUnit,
            span: 24,
            stepped: true,
            min: 0,
            max: 2,
            mappings: breakerMappings(),
            queries: [
              {
                expr: `max by (role, instance, operation) (${series('payrail_acquirer_breaker_state', operation)})`,
                legend: '{{role}} {{instance}} {{operation}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Latency',
        panels: [
          graph({
            title: 'Acquirer call latency by call',
            description:
              'Median and 99th percentile of the exchanges with the acquirer that got an answer (payrail_acquirer_request_duration_seconds, outcome answered), as the api (authorize, lookup, void) and the workers (settle, refund) measured them.',
            unit: units.Seconds,
            queries: [
              {
                expr: quantile(0.5, CALLS, 'call', 'outcome="answered"'),
                legend: '{{call}} p50',
              },
              {
                expr: quantile(0.99, CALLS, 'call', 'outcome="answered"'),
                legend: '{{call}} p99',
              },
            ],
          }),
          graph({
            title: 'Acquirer exchanges/s by call and outcome',
            description:
              'Every exchange with the acquirer: answered; not_processed (not sent, or its defined rejection: safe to retry); timeout and unknown (it may have acted: the recovery sweep and the workers ask again); refused (another 4xx, a defect). An open breaker sends nothing and is not counted here.',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('call, outcome', `${CALLS}_count`),
                legend: '{{call}} {{outcome}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Outcomes',
        panels: [
          graph({
            title: 'Authorize outcomes/s at the api',
            description:
              'Authorize answers of the api by outcome: approved, declined, replayed, or an error code such as ACQUIRER_TIMEOUT, ACQUIRER_UNAVAILABLE, ACQUIRER_OUTCOME_UNKNOWN.',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('outcome', 'payrail_payment_operations_total', 'operation="authorize"'),
                legend: '{{outcome}}',
              },
            ],
          }),
          graph({
            title: 'Simulator calls/s by operation and outcome',
            description:
              'What the card-processor simulator (payrail acquirer) answered: ok, declined_before_processing (the "rejected before processing" 503), down, lost (carried out, then no clean answer). A real acquirer does not export this.',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('operation, outcome', 'payrail_acquirer_simulator_calls_total', operation),
                legend: '{{operation}} {{outcome}}',
              },
            ],
          }),
          graph({
            title: 'Recovered authorizations/s by resolution',
            description:
              'Ambiguous authorize attempts the recovery sweep resolved: authorized, declined, abandoned (the acquirer never saw it) or voided (an approval that came too late).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('resolution', 'payrail_authorizations_recovered_total'),
                legend: '{{resolution}}',
              },
            ],
          }),
          graph({
            title: 'Recovery check failures/s by reason',
            description:
              'Checks of one pending attempt that failed and were backed off (1 s doubling to 5 min), by error code; a steady rate means the acquirer lookup keeps failing.',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('reason', 'payrail_authorize_recovery_failures_total'),
                legend: '{{reason}}',
              },
            ],
          }),
        ],
      },
    ],
  })
}
