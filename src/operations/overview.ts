/**
 * GET /api/admin/overview: each role's state, the gateway's requests per route (rate, 5xx share,
 * p99) and authorizations per minute from the last two scrapes, and the alerts of Prometheus
 * when one is configured.
 */
import { quantileOf, samplesOf } from '../observability/exposition.ts'
import { withDeadline } from '../runtime/deadline.ts'
import { increases } from './increase.ts'
import type { RoleSampler, RoleSnapshot } from './role-sampler.ts'

export interface RouteRate {
  route: string
  requestsPerSecond: number
  errorRate: number
  p99Seconds: number | null
}

export interface AlertView {
  name: string
  state: string
  severity: string | null
  summary: string | null
  activeAt: string | null
}

export interface OverviewView {
  sampledAt: string
  windowSeconds: number | null
  roles: {
    role: string
    url: string
    up: boolean
    ready: boolean
    version: string | null
    error: string | null
  }[]
  routes: RouteRate[]
  authorizationsPerMinute: number | null
  alerts: null | { items: AlertView[]; error: string | null }
}

const REQUESTS = 'payrail_gateway_requests_total'
const BUCKETS = 'payrail_gateway_request_duration_seconds_bucket'
/** Alerts listed at most: a storm of them must not make the answer unbounded. */
const MAX_ALERTS = 100

/** Requests per second, 5xx share and p99 per route over `seconds` of gateway counter increases. */
export function routeRates(
  current: readonly RoleSnapshot[],
  previous: readonly RoleSnapshot[],
  seconds: number,
): RouteRate[] {
  const added = increases(current, previous, 'gateway', [REQUESTS, BUCKETS])
  const routes = new Map<string, { requests: number; errors: number; buckets: Map<number, number> }>()
  const routeOf = (route: string) => {
    let entry = routes.get(route)
    if (entry === undefined) {
      entry = { requests: 0, errors: 0, buckets: new Map() }
      routes.set(route, entry)
    }
    return entry
  }
  for (const sample of samplesOf(added, REQUESTS)) {
    const entry = routeOf(sample.labels.route ?? 'unknown')
    entry.requests += sample.value
    if ((sample.labels.status ?? '').startsWith('5')) entry.errors += sample.value
  }
  for (const sample of samplesOf(added, BUCKETS)) {
    const entry = routeOf(sample.labels.route ?? 'unknown')
    const bound = sample.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(sample.labels.le)
    entry.buckets.set(bound, (entry.buckets.get(bound) ?? 0) + sample.value)
  }
  return [...routes]
    .map(([route, entry]) => ({
      route,
      requestsPerSecond: entry.requests / seconds,
      errorRate: entry.requests === 0 ? 0 : entry.errors / entry.requests,
      p99Seconds: quantileOf(entry.buckets, 0.99) ?? null,
    }))
    .sort((a, b) => a.route.localeCompare(b.route))
}

function authorizationsPerMinute(
  current: readonly RoleSnapshot[],
  previous: readonly RoleSnapshot[],
  seconds: number,
): number {
  const approved = samplesOf(increases(current, previous, 'gateway', [REQUESTS]), REQUESTS, {
    route: 'payments.authorize',
  })
    .filter((s) => (s.labels.status ?? '').startsWith('2'))
    .reduce((sum, s) => sum + s.value, 0)
  return (approved / seconds) * 60
}

export interface OverviewOptions {
  sampler: RoleSampler
  /** PROMETHEUS_URL; undefined: no alerts section. */
  prometheusUrl: string | undefined
  /** The alerts request's limit. Default: 800 (OPS_SCRAPE_TIMEOUT_MS). */
  timeoutMs?: number
  /** Default: the global fetch. */
  fetch?: typeof fetch
}

export async function overview(options: OverviewOptions): Promise<OverviewView> {
  const [{ current, previous }, alerts] = await Promise.all([
    options.sampler.latest(),
    options.prometheusUrl === undefined
      ? Promise.resolve(null)
      : prometheusAlerts(options.prometheusUrl, options.timeoutMs ?? 800, options.fetch ?? fetch),
  ])
  const seconds = previous === undefined ? null : (current.at - previous.at) / 1000
  const window = seconds !== null && seconds > 0 ? seconds : null
  return {
    sampledAt: new Date(current.at).toISOString(),
    windowSeconds: window,
    roles: current.roles.map((role) => ({
      role: role.role,
      url: role.url,
      up: role.up,
      ready: role.ready,
      version: samplesOf(role.samples ?? [], 'payrail_build_info')[0]?.labels.version ?? null,
      error: role.error,
    })),
    routes:
      window === null || previous === undefined ? [] : routeRates(current.roles, previous.roles, window),
    authorizationsPerMinute:
      window === null || previous === undefined
        ? null
        : authorizationsPerMinute(current.roles, previous.roles, window),
    alerts,
  }
}

interface PrometheusAlert {
  labels?: Record<string, string>
  annotations?: Record<string, string>
  state?: string
  activeAt?: string
}

/** Prometheus's active alerts; an unreachable or odd Prometheus is an error text, never a throw. */
async function prometheusAlerts(
  url: string,
  timeoutMs: number,
  fetchFn: typeof fetch,
): Promise<{ items: AlertView[]; error: string | null }> {
  const controller = new AbortController()
  const request = (async () => {
    const response = await fetchFn(`${url.replace(/\/$/, '')}/api/v1/alerts`, { signal: controller.signal })
    if (response.status !== 200) return { items: [], error: `Prometheus answered ${response.status}` }
    const body = (await response.json()) as { data?: { alerts?: PrometheusAlert[] } }
    const alerts = body.data?.alerts
    if (!Array.isArray(alerts)) return { items: [], error: 'Prometheus answered without data.alerts' }
    return {
      items: alerts.slice(0, MAX_ALERTS).map((alert) => ({
        name: alert.labels?.alertname ?? 'unnamed',
        state: alert.state ?? 'unknown',
        severity: alert.labels?.severity ?? null,
        summary: alert.annotations?.summary ?? null,
        activeAt: alert.activeAt ?? null,
      })),
      error: null,
    }
  })()
  try {
    return await withDeadline(request, timeoutMs, () => {
      controller.abort()
      return { items: [], error: `Prometheus did not answer within ${timeoutMs} ms` }
    })
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause
    return { items: [], error: `Prometheus at ${url}: ${cause?.code ?? (error as Error).message}` }
  }
}
