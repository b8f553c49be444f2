import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { DEFAULT_METRICS, readMetricCatalog } from '../../support/metric-catalog.ts'
import { freePort } from '../../support/processes.ts'
import { parseExposition } from '../helpers/exposition.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { until } from '../helpers/until.ts'
import { startUp } from '../helpers/up.ts'

const ROLES = ['gateway', 'api', 'acquirer', 'relay', 'worker', 'notifier'] as const
type Role = (typeof ROLES)[number]

const isDefault = (name: string) => name.startsWith('payrail_nodejs_') || name.startsWith('payrail_process_')
const sorted = (values: Iterable<string>) => [...values].sort()

interface Seen {
  type: string
  roles: Set<string>
  /** Label names per role that had samples. */
  labels: Map<string, string[]>
}

/** Every `payrail_*` metric the five pages export, with its type, labels and roles. */
function exported(pages: Map<Role, string>): Map<string, Seen> {
  const seen = new Map<string, Seen>()
  for (const [role, page] of pages) {
    for (const [name, metric] of parseExposition(page)) {
      assert.ok(name.startsWith('payrail_'), `${role} exports ${name}, outside the payrail_ prefix`)
      for (const labelled of metric.roles) assert.equal(labelled, role, `${name} on the ${role}'s page`)
      let entry = seen.get(name)
      if (entry === undefined) {
        entry = { type: metric.type, roles: new Set(), labels: new Map() }
        seen.set(name, entry)
      }
      assert.equal(metric.type, entry.type, `${name} has two types`)
      entry.roles.add(role)
      if (metric.labels !== undefined) entry.labels.set(role, sorted(metric.labels))
    }
  }
  return seen
}

test('every role exports exactly the metrics docs/metrics.md lists, with their types, labels and roles', async (t) => {
  // A broker of its own: this platform's workers would otherwise join the shared broker's
  // consumer groups beside other tests' platforms and take (and dead-letter) their events.
  const brokers = await privateBroker(t)
  const dir = mkdtempSync(join(tmpdir(), 'payrail-metrics-'))
  const ports = Object.fromEntries(
    await Promise.all(ROLES.map(async (role) => [role, await freePort()])),
  ) as Record<Role, number>
  const up = await startUp(t, dir, {
    DATABASE_URL: `sqlite:${join(dir, 'payrail.db')}`,
    KAFKA_BROKERS: brokers,
    GATEWAY_PORT: String(ports.gateway),
    API_PORT: String(ports.api),
    ACQUIRER_PORT: String(ports.acquirer),
    ACQUIRER_URL: `http://127.0.0.1:${ports.acquirer}`,
    ACQUIRER_AUTH_FAILURE_RATE: '0',
    ACQUIRER_SETTLE_FAILURE_RATE: '0',
    RELAY_METRICS_PORT: String(ports.relay),
    WORKER_METRICS_PORT: String(ports.worker),
    NOTIFIER_METRICS_PORT: String(ports.notifier),
  })
  const key = /demo key +(prk_\S+)/.exec(up.output())?.[1]
  assert.ok(key, up.output())

  // One payment through the gateway, captured, published by the relay, and every consumer in its
  // group: most labelled metrics then have samples whose label names the test can compare. (The
  // consumer groups are shared with whatever else uses the broker, so which worker consumes the
  // capture is not this test's to wait for.)
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  const gateway = `http://127.0.0.1:${ports.gateway}`
  const authorize = await fetch(`${gateway}/api/payments/authorize`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ amount: 15_000, currency: 'KRW', idempotencyKey: 'metrics-1' }),
  })
  assert.equal(authorize.status, 201, await authorize.clone().text())
  const { paymentId } = (await authorize.json()) as { paymentId: string }
  const capture = await fetch(`${gateway}/api/payments/capture/${paymentId}`, {
    method: 'POST',
    headers,
    body: '{}',
  })
  assert.equal(capture.status, 202, await capture.text())

  const pages = new Map<Role, string>()
  await until(
    'the relay to publish and every consumer to own partitions',
    async () => {
      for (const role of ROLES)
        pages.set(role, await (await fetch(`http://127.0.0.1:${ports[role]}/metrics`)).text())
      const relay = pages.get('relay') ?? ''
      const worker = pages.get('worker') ?? ''
      return (
        /payrail_outbox_published_total\{[^}]*topic="payment.capture-requested"[^}]*\} [1-9]/.test(relay) &&
        ['settlement', 'refund', 'ledger'].every((handler) =>
          new RegExp(`payrail_worker_partitions_assigned\\{[^}]*handler="${handler}"[^}]*\\} [1-9]`).test(
            worker,
          ),
        )
      )
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${pages.get('relay')}\n${pages.get('worker')}`)
  })

  const catalog = readMetricCatalog()
  const seen = exported(pages)
  const own = new Set([...seen.keys()].filter((name) => !isDefault(name)))
  assert.deepEqual(
    {
      undocumented: sorted([...own].filter((name) => !catalog.has(name))),
      notExported: sorted([...catalog.keys()].filter((name) => !own.has(name))),
    },
    { undocumented: [], notExported: [] },
    'docs/metrics.md and the roles disagree on which metrics exist',
  )
  for (const [name, entry] of catalog) {
    const metric = seen.get(name) as Seen
    assert.equal(metric.type, entry.type, `${name}: type`)
    assert.deepEqual(sorted(metric.roles), sorted(entry.roles), `${name}: roles`)
    for (const [role, labels] of metric.labels)
      assert.deepEqual(labels, sorted(entry.labels), `${name}: labels in the ${role}`)
  }
  for (const [name, metric] of seen) {
    if (!isDefault(name)) continue
    assert.equal(DEFAULT_METRICS.get(name), metric.type, `${name}: not in DEFAULT_METRICS with this type`)
    assert.deepEqual(sorted(metric.roles), sorted(ROLES), `${name}: roles`)
  }
  assert.deepEqual(
    sorted([...DEFAULT_METRICS.keys()].filter((name) => !seen.has(name))),
    [],
    'DEFAULT_METRICS names metrics no role exports',
  )
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  for (const [role, page] of pages)
    assert.ok(
      page.includes(`payrail_build_info{version="${version}",node="${process.version}",role="${role}"} 1`),
      `${role}: payrail_build_info names version ${version} and Node ${process.version}`,
    )
  t.diagnostic(
    `${own.size} documented metrics and ${DEFAULT_METRICS.size} default ones in ${ROLES.length} roles`,
  )
})
