/**
 * GET /api/admin/gateway: the gateways' upstream instances and their failure counters, from
 * their last scrape (counters are totals since each gateway started; the dashboard takes rates
 * from two polls). Several gateways add up; an instance seen by several shows once per gateway.
 */
import { type Sample, samplesOf, sumBy } from '../observability/exposition.ts'
import type { RoleSnapshot } from './role-sampler.ts'

export interface GatewayView {
  up: boolean
  error: string | null
  instances: {
    upstream: string
    instance: string
    available: boolean
    ejected: boolean
    inFlight: number
    connected: number
  }[]
  waiting: Record<string, number>
  panic: Record<string, boolean>
  timeouts: { upstream: string; kind: string; total: number }[]
  retries: Record<string, number>
  retriesDenied: Record<string, number>
  rateLimited: Record<string, number>
}

const instanceKey = (s: Sample) => `${s.labels.upstream ?? ''} ${s.labels.instance ?? ''}`

export function gatewayView(roles: readonly RoleSnapshot[]): GatewayView {
  const gateways = roles.filter((role) => role.role === 'gateway')
  const answering = gateways.filter((g) => g.samples !== undefined)
  if (answering.length === 0) {
    return {
      up: false,
      error:
        gateways.length === 0
          ? 'no gateway in OPS_TARGETS'
          : gateways.map((g) => `${g.url}: ${g.error ?? 'no metrics'}`).join('; '),
      instances: [],
      waiting: {},
      panic: {},
      timeouts: [],
      retries: {},
      retriesDenied: {},
      rateLimited: {},
    }
  }
  const instances: GatewayView['instances'] = []
  const waiting: Record<string, number> = {}
  const panic: Record<string, boolean> = {}
  const timeouts = new Map<string, { upstream: string; kind: string; total: number }>()
  const retries: Record<string, number> = {}
  const retriesDenied: Record<string, number> = {}
  const rateLimited: Record<string, number> = {}
  const add = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [key, value] of Object.entries(from)) into[key] = (into[key] ?? 0) + value
  }
  for (const gateway of answering) {
    const samples = gateway.samples as Sample[]
    const byInstance = (name: string) =>
      new Map(samplesOf(samples, name).map((s) => [instanceKey(s), s.value]))
    const inFlight = byInstance('payrail_gateway_pool_in_flight')
    const connected = byInstance('payrail_gateway_pool_connected')
    const ejected = byInstance('payrail_gateway_upstream_ejected')
    for (const s of samplesOf(samples, 'payrail_gateway_upstream_available')) {
      const key = instanceKey(s)
      instances.push({
        upstream: s.labels.upstream ?? '',
        instance: s.labels.instance ?? '',
        available: s.value === 1,
        ejected: ejected.get(key) === 1,
        inFlight: inFlight.get(key) ?? 0,
        connected: connected.get(key) ?? 0,
      })
    }
    add(waiting, sumBy(samples, 'payrail_gateway_pool_waiting', 'upstream'))
    for (const s of samplesOf(samples, 'payrail_gateway_upstream_panic'))
      panic[s.labels.upstream ?? ''] = (panic[s.labels.upstream ?? ''] ?? false) || s.value === 1
    for (const s of samplesOf(samples, 'payrail_gateway_upstream_timeouts_total')) {
      const upstream = s.labels.upstream ?? ''
      const kind = s.labels.kind ?? ''
      const entry = timeouts.get(`${upstream} ${kind}`) ?? { upstream, kind, total: 0 }
      entry.total += s.value
      timeouts.set(`${upstream} ${kind}`, entry)
    }
    add(retries, sumBy(samples, 'payrail_gateway_retries_total', 'reason'))
    add(retriesDenied, sumBy(samples, 'payrail_gateway_retries_denied_total', 'reason'))
    add(rateLimited, sumBy(samples, 'payrail_gateway_rate_limited_total', 'operation'))
  }
  const down = gateways.filter((g) => g.samples === undefined)
  return {
    up: true,
    error: down.length === 0 ? null : down.map((g) => `${g.url}: ${g.error ?? 'no metrics'}`).join('; '),
    instances,
    waiting,
    panic,
    timeouts: [...timeouts.values()],
    retries,
    retriesDenied,
    rateLimited,
  }
}
