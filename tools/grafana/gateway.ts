import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as units from '@grafana/grafana-foundation-sdk/units'
import { graph, labelVariable, payrailDashboard, single, yesNoMappings } from './panels.ts'
import { matches, series, sumBy, sumRate } from './promql.ts'

const gateway = matches('instance')
const upstream = matches('upstream')

// The pool gauges label each upstream instance `instance` (its origin); Prometheus keeps its own
// `instance` (the scraped gateway) and renames theirs `exported_instance` (honor_labels: false).
const UPSTREAM_INSTANCE = 'upstream, exported_instance'

export function gatewayDashboard(): dashboard.Dashboard {
  return payrailDashboard({
    uid: 'payrail-gateway',
    title: 'payrail / Gateway',
    description: 'Upstream timeouts, retries, the upstream connection pools, ejections and rate limits',
    variables: [
      labelVariable('instance', 'instance', 'payrail_gateway_pool_waiting'),
      labelVariable('upstream', 'upstream', 'payrail_gateway_pool_waiting'),
    ],
    rows: [
      {
        title: 'Timeouts and failed attempts',
        panels: [
          graph({
            title: 'Upstream timeouts/s by kind',
            description:
              'Timeouts per upstream and kind: connect (opening a connection), response (waiting for the answer), acquire (waiting for a free pooled connection).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('upstream, kind', 'payrail_gateway_upstream_timeouts_total', gateway, upstream),
                legend: '{{upstream}} {{kind}}',
              },
            ],
          }),
          graph({
            title: 'Timeouts per request by kind',
            description:
              'Upstream timeouts of each kind divided by the requests the gateway answered: the share of requests that met a timeout.',
            unit: units.PercentUnit,
            warnAt: 0.01,
            badAt: 0.05,
            queries: [
              {
                expr: `${sumRate('kind', 'payrail_gateway_upstream_timeouts_total', gateway, upstream)} / ignoring (kind) group_left ${sumRate('', 'payrail_gateway_requests_total', gateway)}`,
                legend: '{{kind}}',
              },
            ],
          }),
          graph({
            title: 'Failed upstream attempts/s by kind',
            description:
              'Attempts that failed per upstream and kind: connect (refused), connect-timeout, response-timeout, reset (connection broken after sending).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('upstream, kind', 'payrail_gateway_upstream_failures_total', gateway, upstream),
                legend: '{{upstream}} {{kind}}',
              },
            ],
          }),
          graph({
            title: 'Answers/s by status',
            description: 'Every answer of the gateway per HTTP status, all routes.',
            unit: units.RequestsPerSecond,
            queries: [
              { expr: sumRate('status', 'payrail_gateway_requests_total', gateway), legend: '{{status}}' },
            ],
          }),
        ],
      },
      {
        title: 'Retries',
        panels: [
          graph({
            title: 'Retries/s by reason',
            description:
              'Attempts sent again, by why it was safe: not-sent (the request never left), idempotent (a method such as GET or PUT), idempotency-key (a write carrying its idempotency key).',
            unit: units.OpsPerSecond,
            queries: [
              { expr: sumRate('reason', 'payrail_gateway_retries_total', gateway), legend: '{{reason}}' },
            ],
          }),
          graph({
            title: 'Retries denied/s by reason',
            description:
              'Failed attempts not sent again: unsafe (a write without an idempotency key that may have reached the api), budget (the retry budget is spent), attempts (the maximum number of attempts was reached).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('reason', 'payrail_gateway_retries_denied_total', gateway),
                legend: '{{reason}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Upstream pool',
        panels: [
          graph({
            title: 'Connections open per upstream instance',
            description: 'Open keep-alive connections from the gateway to each upstream instance.',
            unit: units.Short,
            span: 8,
            queries: [
              {
                expr: `${sumBy(UPSTREAM_INSTANCE)}(${series('payrail_gateway_pool_connected', gateway, upstream)})`,
                legend: '{{upstream}} {{exported_instance}}',
              },
            ],
          }),
          graph({
            title: 'Requests in flight per upstream instance',
            description: 'Requests sent to each upstream instance and not yet answered.',
            unit: units.Short,
            span: 8,
            queries: [
              {
                expr: `${sumBy(UPSTREAM_INSTANCE)}(${series('payrail_gateway_pool_in_flight', gateway, upstream)})`,
                legend: '{{upstream}} {{exported_instance}}',
              },
            ],
          }),
          graph({
            title: 'Requests waiting for a connection',
            description:
              'Requests queued for a free upstream connection per upstream; those waiting longer than the acquire timeout count as acquire timeouts.',
            unit: units.Short,
            span: 8,
            queries: [
              {
                expr: `sum by (upstream) (${series('payrail_gateway_pool_waiting', gateway, upstream)})`,
                legend: '{{upstream}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Ejections',
        panels: [
          graph({
            title: 'Instances not taking traffic',
            description:
              'Upstream instances the gateway has ejected or whose health checks fail (1 each), from payrail_gateway_upstream_available.',
            unit: units.Short,
            stepped: true,
            min: 0,
            queries: [
              {
                expr: `${sumBy(UPSTREAM_INSTANCE)}(1 - ${series('payrail_gateway_upstream_available', gateway, upstream)})`,
                legend: '{{upstream}} {{exported_instance}}',
              },
            ],
          }),
          single({
            title: 'Ejections and returns in the range',
            height: 8,
            description:
              'How often an upstream instance went out of or back into rotation over the time range (changes of payrail_gateway_upstream_available).',
            unit: units.Short,
            queries: [
              {
                expr: `sum by (upstream) (changes(${series('payrail_gateway_upstream_available', gateway, upstream)}[$__range]))`,
                legend: '{{upstream}}',
              },
            ],
          }),
          single({
            title: 'Panic mode',
            height: 8,
            description:
              'Whether an upstream sends requests to every instance, available or not, because too few are available.',
            unit: units.NoUnit,
            mappings: yesNoMappings(1),
            queries: [
              {
                expr: `max by (upstream) (${series('payrail_gateway_upstream_panic', gateway, upstream)})`,
                legend: '{{upstream}}',
              },
            ],
          }),
        ],
      },
      {
        title: 'Rate limits',
        panels: [
          graph({
            title: 'Rate-limited requests/s by operation',
            description:
              'Requests refused with 429 RATE_LIMIT_EXCEEDED per operation (authorize, capture, refund, read per API key; admin per address).',
            unit: units.RequestsPerSecond,
            queries: [
              {
                expr: sumRate('operation', 'payrail_gateway_rate_limited_total', gateway),
                legend: '{{operation}}',
              },
            ],
          }),
          graph({
            title: 'Rate-limiter store failures/s',
            description:
              'Failures of the rate-limit store (Redis) by the policy applied: open (let through unlimited) or closed (refused with 503).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('policy', 'payrail_gateway_rate_limiter_failures_total', gateway),
                legend: '{{policy}}',
              },
            ],
          }),
        ],
      },
    ],
  })
}
