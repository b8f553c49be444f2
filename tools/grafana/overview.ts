import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import * as units from '@grafana/grafana-foundation-sdk/units'
import type { RouteId } from '../../src/gateway/routes.ts'
import { graph, labelVariable, payrailDashboard, single } from './panels.ts'
import { matches, quantile, sumBy, sumRate } from './promql.ts'

/**
 * The service level objectives the burn-rate panels measure, as deploy/prometheus/rules/slo.rules.yml
 * defines them (`payrail:slo_objective:ratio`; dashboards use raw metrics only, so a change there
 * must be made here too): availability of authorize, capture and refund through the gateway (no
 * 5xx), and authorize latency (answered within `latencySeconds`, a bucket bound of
 * payrail_gateway_request_duration_seconds).
 */
export const SLO = {
  availability: 0.999,
  latency: 0.99,
  latencySeconds: '0.5',
  routes: ['payments.authorize', 'payments.capture', 'payments.refund'] satisfies RouteId[],
} as const

const REQUESTS = 'payrail_gateway_requests_total'
const DURATION = 'payrail_gateway_request_duration_seconds'
const SLO_ROUTES = `route=~"${SLO.routes.join('|')}"`
const AUTHORIZE: RouteId = 'payments.authorize'

/** Share of SLO requests answered 5xx over `window`, divided by the error budget (1 − objective). */
function availabilityBurn(window: string, by = ''): string {
  const group = sumBy(by)
  const bad = `${group}(rate(${REQUESTS}{${SLO_ROUTES}, status=~"5.."}[${window}]))`
  const all = `${group}(rate(${REQUESTS}{${SLO_ROUTES}}[${window}]))`
  return `(${bad} / ${all}) / ${(1 - SLO.availability).toFixed(4)}`
}

/** Share of authorizes slower than the SLO bound over `window`, divided by the latency budget. */
function latencyBurn(window: string): string {
  const fast = `sum(rate(${DURATION}_bucket{route="${AUTHORIZE}", le="${SLO.latencySeconds}"}[${window}]))`
  const all = `sum(rate(${DURATION}_count{route="${AUTHORIZE}"}[${window}]))`
  return `(1 - ${fast} / ${all}) / ${(1 - SLO.latency).toFixed(4)}`
}

/** A burn rate over the windows of the multi-window alerts, with the two page thresholds drawn. */
function burnRate(title: string, description: string, burn: (window: string) => string) {
  return graph({
    title,
    description,
    unit: units.Short,
    warnAt: 6,
    badAt: 14.4,
    queries: ['5m', '30m', '1h', '6h'].map((window) => ({ expr: burn(window), legend: window })),
  })
}

const route = matches('route')

export function overview(): dashboard.Dashboard {
  return payrailDashboard({
    uid: 'payrail-overview',
    title: 'payrail / Overview',
    description:
      'Traffic, errors and latency per route at the gateway, payment outcomes, and the SLO burn rates',
    variables: [labelVariable('route', 'route', REQUESTS)],
    rows: [
      {
        title: 'Traffic through the gateway',
        panels: [
          single({
            title: 'Requests/s',
            description: `Requests answered by every gateway, all routes of $route (${REQUESTS}).`,
            unit: units.RequestsPerSecond,
            queries: [{ expr: sumRate('', REQUESTS, route), legend: 'requests/s' }],
          }),
          single({
            title: '5xx share',
            description:
              'Share of gateway answers that were 5xx over the last rate interval: failures of payrail or of what it calls (acquirer, database, Kafka are behind the api).',
            unit: units.PercentUnit,
            decimals: 2,
            warnAt: 0.001,
            badAt: 0.01,
            queries: [
              {
                expr: `${sumRate('', REQUESTS, route, 'status=~"5.."')} / ${sumRate('', REQUESTS, route)}`,
                legend: '5xx share',
              },
            ],
          }),
          single({
            title: 'p99 latency',
            description:
              'The 99th percentile of the time from request to answer at the gateway, all routes of $route together.',
            unit: units.Seconds,
            warnAt: 0.3,
            badAt: Number(SLO.latencySeconds),
            queries: [{ expr: quantile(0.99, DURATION, '', route), legend: 'p99' }],
          }),
          single({
            title: 'Processes per role',
            description:
              'payrail processes Prometheus scrapes now, per role (payrail_build_info); a role that drops to 0 is down or not scraped.',
            unit: units.Short,
            queries: [{ expr: 'count by (role) (payrail_build_info)', legend: '{{role}}' }],
          }),
          graph({
            title: 'Requests/s by route',
            description: `Requests answered by the gateway per route id (${REQUESTS}).`,
            unit: units.RequestsPerSecond,
            queries: [{ expr: sumRate('route', REQUESTS, route), legend: '{{route}}' }],
          }),
          graph({
            title: 'Errors/s by route and status',
            description:
              'Gateway answers with a status of 400 or more, per route and status: 5xx are payrail failures, 429 rate limits, other 4xx bad requests.',
            unit: units.RequestsPerSecond,
            queries: [
              {
                expr: sumRate('route, status', REQUESTS, route, 'status=~"[45].."'),
                legend: '{{route}} {{status}}',
              },
            ],
          }),
          graph({
            title: 'p50 latency by route',
            description: `Median time from request to answer at the gateway per route (${DURATION}).`,
            unit: units.Seconds,
            queries: [{ expr: quantile(0.5, DURATION, 'route', route), legend: '{{route}}' }],
          }),
          graph({
            title: 'p99 latency by route',
            description: `99th percentile of the time from request to answer at the gateway per route (${DURATION}); histogram buckets end at 20 s, the gateway's response timeout.`,
            unit: units.Seconds,
            warnAt: Number(SLO.latencySeconds),
            queries: [{ expr: quantile(0.99, DURATION, 'route', route), legend: '{{route}}' }],
          }),
        ],
      },
      {
        title: 'Payments (api)',
        panels: [
          graph({
            title: 'Payment operations/s by outcome',
            description:
              'What the api answered per operation: approved, declined, accepted, replayed (idempotent repeat) or an error code (payrail_payment_operations_total).',
            unit: units.OpsPerSecond,
            queries: [
              {
                expr: sumRate('operation, outcome', 'payrail_payment_operations_total'),
                legend: '{{operation}} {{outcome}}',
              },
            ],
          }),
          graph({
            title: 'API p99 latency by route',
            description:
              '99th percentile of the api’s own handling time per route template (payrail_http_request_duration_seconds); the gap to the gateway’s is the forwarding.',
            unit: units.Seconds,
            queries: [
              { expr: quantile(0.99, 'payrail_http_request_duration_seconds', 'route'), legend: '{{route}}' },
            ],
          }),
          graph({
            title: 'API admission: in flight and queued',
            description:
              'Requests every api process has admitted and is running (at most API_MAX_IN_FLIGHT each) and those waiting for admission (at most API_MAX_QUEUED).',
            unit: units.Short,
            queries: [
              { expr: 'sum(payrail_api_requests_in_flight)', legend: 'in flight' },
              { expr: 'sum(payrail_api_requests_queued)', legend: 'queued' },
            ],
          }),
          graph({
            title: 'Shed requests/s by reason',
            description:
              'Requests the api answered 503 OVERLOADED without processing them: queue_full (API_MAX_QUEUED reached) or queue_timeout (waited too long for admission).',
            unit: units.RequestsPerSecond,
            queries: [{ expr: sumRate('reason', 'payrail_api_shed_total'), legend: '{{reason}}' }],
          }),
        ],
      },
      {
        title: 'SLO burn',
        panels: [
          burnRate(
            'Availability burn rate',
            `How fast authorize, capture and refund through the gateway spend the error budget of a ${SLO.availability * 100} % availability objective (5xx share divided by ${(1 - SLO.availability).toFixed(4)}); 1 spends it exactly in 30 days. The alerts page at 14.4 over 1 h and 5 m together, and at 6 over 6 h and 30 m together.`,
            availabilityBurn,
          ),
          burnRate(
            'Authorize latency burn rate',
            `How fast authorizes through the gateway spend the budget of a ${SLO.latency * 100} % within ${SLO.latencySeconds} s objective (share slower, divided by ${(1 - SLO.latency).toFixed(4)}); thresholds as for availability.`,
            latencyBurn,
          ),
          graph({
            title: 'Availability burn rate by route (1h)',
            description:
              'The 1 h availability burn rate per SLO route, to see which operation spends the budget.',
            unit: units.Short,
            warnAt: 6,
            badAt: 14.4,
            queries: [{ expr: availabilityBurn('1h', 'route'), legend: '{{route}}' }],
          }),
          single({
            title: 'Error budget spent in the range',
            span: 12,
            height: 8,
            description: `Share of the availability error budget (${(1 - SLO.availability).toFixed(4)} of requests) that 5xx answers of the SLO routes used over the dashboard's time range; above 100 % the range broke the objective.`,
            unit: units.PercentUnit,
            warnAt: 0.5,
            badAt: 1,
            queries: [
              {
                expr: `(sum(increase(${REQUESTS}{${SLO_ROUTES}, status=~"5.."}[$__range])) / sum(increase(${REQUESTS}{${SLO_ROUTES}}[$__range]))) / ${(1 - SLO.availability).toFixed(4)}`,
                legend: 'budget spent',
              },
            ],
          }),
        ],
      },
    ],
  })
}
