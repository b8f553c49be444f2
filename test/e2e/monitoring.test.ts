import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { type TestContext, test } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { prepareMonitoringConfig, prometheusFolder } from '../../src/cli/monitoring-config.ts'
import { startPrometheus } from '../../src/cli/monitoring-processes.ts'
import { openDatabase } from '../../src/db/database.ts'
import { issueApiKey } from '../../src/db/merchants.ts'
import { migrateToLatest } from '../../src/db/migrate.ts'
import { DEFAULT_METRICS, readMetricCatalog } from '../../support/metric-catalog.ts'
import { freePorts, type RoleProcess, startAcquirer, startRole } from '../../support/processes.ts'
import { runCli } from '../helpers/cli.ts'
import { privateBroker } from '../helpers/kafka.ts'
import { requireService, requireTool } from '../helpers/services.ts'
import { until } from '../helpers/until.ts'
import { spawnCli } from '../helpers/up.ts'

const ROLES = ['gateway', 'api', 'acquirer', 'relay', 'worker', 'notifier'] as const
type Role = (typeof ROLES)[number]

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A folder of file_sd files, one per role (and Alertmanager's), as in deploy/prometheus/targets/<env>/. */
function writeTargets(folder: string, targets: Record<string, string[]>): string {
  mkdirSync(folder, { recursive: true })
  for (const [name, addresses] of Object.entries(targets))
    writeFileSync(
      join(folder, `${name}.yml`),
      addresses.length === 0 ? '[]\n' : `- targets:\n${addresses.map((a) => `    - ${a}\n`).join('')}`,
    )
  return folder
}

/**
 * The repository's prometheus.yml with scrape and evaluation every second instead of every 15 s
 * (the only change), so that targets, rules and a pending alert show within seconds.
 */
function fastConfig(): string {
  let text = readFileSync(join(prometheusFolder(ROOT), 'prometheus.yml'), 'utf8')
  for (const [from, to] of [
    ['scrape_interval: 15s', 'scrape_interval: 1s'],
    ['scrape_timeout: 10s', 'scrape_timeout: 1s'],
    ['evaluation_interval: 15s', 'evaluation_interval: 1s'],
  ] as const) {
    assert.ok(text.includes(from), `prometheus.yml no longer says ${from}`)
    text = text.replace(from, to)
  }
  return text
}

/** Every `targets[].expr` of a Grafana dashboard, rows' nested panels included. */
function dashboardExprs(dashboard: { panels?: unknown[] }): string[] {
  const exprs: string[] = []
  const visit = (panels: unknown[] | undefined) => {
    for (const panel of (panels ?? []) as { panels?: unknown[]; targets?: { expr?: string }[] }[]) {
      for (const target of panel.targets ?? []) if (target.expr) exprs.push(target.expr)
      visit(panel.panels)
    }
  }
  visit(dashboard.panels)
  return exprs
}

/** Grafana's variables as Prometheus cannot know them: intervals 1m, range 5m, template variables `.*`. */
function substituteGrafana(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '5m')
    .replace(/\$\{?\w+\}?/g, '.*')
}

async function api<T>(prometheus: string, path: string): Promise<T> {
  const response = await fetch(`${prometheus}${path}`)
  const body = (await response.json()) as { status: string; data: T; error?: string }
  assert.equal(body.status, 'success', `${path}: ${body.error ?? response.status}`)
  return body.data
}

interface ActiveTarget {
  labels: Record<string, string>
  health: string
  lastError: string
}
interface RuleGroup {
  name: string
  rules: { name: string; health: string; lastError?: string; type: string }[]
}
interface Alert {
  labels: Record<string, string>
  state: string
}

test('Prometheus with the local configuration scrapes every role, evaluates every rule, answers every dashboard query, and raises the outbox alert when the relay stops', async (t) => {
  if ((await requireService(t, 'kafka')) === undefined) return
  if (requireTool(t, 'prometheus') === undefined) return
  const dir = tempDir(t, 'payrail-monitoring-e2e-')
  const databaseUrl = `sqlite:${join(dir, 'payrail.db')}`
  const migration = openDatabase({ url: databaseUrl, poolMax: 1 })
  await migrateToLatest(migration.db, migration.dialect)
  const { key } = await issueApiKey(migration.db, 'm-monitoring')
  await migration.close()
  // A broker of its own: a new worker group reads its topics from the start, and the shared
  // broker's hold every other test's events, which this worker would dead-letter.
  const brokers = await privateBroker(t)

  const [gatewayPort, apiPort, relayPort, workerPort, notifierPort, prometheusPort] = await freePorts(6)
  const roles = new Map<Role, RoleProcess>()
  t.after(async () => {
    for (const role of roles.values()) await role.stop('SIGKILL')
  })
  const acquirer = await startAcquirer()
  roles.set('acquirer', acquirer)
  const common = { DATABASE_URL: databaseUrl, KAFKA_BROKERS: brokers, ACQUIRER_URL: acquirer.url }
  roles.set('api', await startRole('api', apiPort as number, { ...common, API_PORT: String(apiPort) }))
  roles.set(
    'relay',
    await startRole('relay', relayPort as number, { ...common, RELAY_METRICS_PORT: String(relayPort) }),
  )
  roles.set(
    'worker',
    await startRole('worker', workerPort as number, { ...common, WORKER_METRICS_PORT: String(workerPort) }),
  )
  roles.set(
    'notifier',
    await startRole('notifier', notifierPort as number, {
      ...common,
      NOTIFIER_METRICS_PORT: String(notifierPort),
    }),
  )
  roles.set(
    'gateway',
    await startRole('gateway', gatewayPort as number, {
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_UPSTREAM_API: `http://127.0.0.1:${apiPort}`,
    }),
  )
  // Traffic through the gateway, so that the request series the SLO rules read exist.
  const gateway = roles.get('gateway')?.url
  for (let i = 0; i < 5; i++) {
    const response = await fetch(`${gateway}/api/payments/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 1000 + i, currency: 'EUR', idempotencyKey: `monitoring-${i}` }),
    })
    assert.equal(response.status, 201, await response.text())
  }

  const targets = writeTargets(join(dir, 'targets'), {
    ...Object.fromEntries(ROLES.map((role) => [role, [new URL(roles.get(role)?.url as string).host]])),
    alertmanager: [],
  })
  const configFile = prepareMonitoringConfig({
    root: ROOT,
    dir: join(dir, 'config'),
    targets,
    config: fastConfig(),
  })
  const prometheus = await startPrometheus({
    configFile,
    dataDir: join(dir, 'prometheus'),
    port: prometheusPort as number,
    logFile: join(dir, 'prometheus.log'),
  })
  t.after(async () => {
    prometheus.child.kill('SIGKILL')
    await prometheus.exited
  })

  await until(
    "every role's target up",
    async () => {
      const { activeTargets } = await api<{ activeTargets: ActiveTarget[] }>(
        prometheus.url,
        '/api/v1/targets',
      )
      const up = activeTargets.filter((target) => target.health === 'up').map((target) => target.labels.job)
      return ROLES.every((role) => up.includes(role)) ? activeTargets : undefined
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  )

  // Every recording rule and alert evaluates against the real series without an error.
  const groups = await until(
    'every rule evaluated',
    async () => {
      const data = await api<{ groups: RuleGroup[] }>(prometheus.url, '/api/v1/rules')
      const rules = data.groups.flatMap((group) => group.rules)
      return rules.length > 0 && rules.every((rule) => rule.health !== 'unknown') ? data.groups : undefined
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  )
  const ruleFiles = readdirSync(join(prometheusFolder(ROOT), 'rules')).length
  assert.ok(groups.length >= ruleFiles, `${groups.length} rule groups loaded from ${ruleFiles} files`)
  const broken = groups.flatMap((group) =>
    group.rules.filter((rule) => rule.health !== 'ok').map((rule) => `${rule.name}: ${rule.lastError}`),
  )
  assert.deepEqual(broken, [])

  // Every gauge the rules read is exported by some role (counters may wait for their first event).
  const catalog = readMetricCatalog()
  const gauges = [
    ...new Set(
      readdirSync(join(prometheusFolder(ROOT), 'rules')).flatMap((file) =>
        [
          ...readFileSync(join(prometheusFolder(ROOT), 'rules', file), 'utf8').matchAll(
            /\bpayrail_[a-z0-9_]+/g,
          ),
        ]
          .map((match) => match[0])
          .filter((name) => catalog.get(name)?.type === 'gauge' || DEFAULT_METRICS.get(name) === 'gauge'),
      ),
    ),
  ]
  assert.ok(gauges.length > 5, gauges.join(', '))
  await until(
    'a series of every gauge the rules read',
    async () => {
      const names = await api<string[]>(prometheus.url, '/api/v1/label/__name__/values')
      return gauges.every((name) => names.includes(name)) || undefined
    },
    { timeoutMs: 20_000, intervalMs: 250 },
  ).catch(async (error: Error) => {
    const names = await api<string[]>(prometheus.url, '/api/v1/label/__name__/values')
    throw new Error(`${error.message}: missing ${gauges.filter((name) => !names.includes(name)).join(', ')}`)
  })

  // Every dashboard query runs through Prometheus' query API without an error.
  const dashboards = join(ROOT, 'deploy', 'grafana', 'dashboards')
  const files = existsSync(dashboards) ? readdirSync(dashboards).filter((name) => name.endsWith('.json')) : []
  assert.ok(files.length > 0, `no Grafana dashboards in ${dashboards}`)
  const failures: string[] = []
  let queries = 0
  for (const file of files) {
    const dashboard = JSON.parse(readFileSync(join(dashboards, file), 'utf8')) as { panels?: unknown[] }
    for (const expr of dashboardExprs(dashboard)) {
      queries++
      const query = substituteGrafana(expr)
      const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(query)}`)
      const body = (await response.json()) as { status: string; error?: string }
      if (body.status !== 'success') failures.push(`${file}: ${query}: ${body.error}`)
    }
  }
  assert.ok(queries > 0, 'the dashboards hold no queries')
  assert.deepEqual(failures, [])

  // With the relay up no outbox alert is active; with the relay gone, its alert is pending
  // within a scrape and an evaluation.
  const before = await api<{ alerts: Alert[] }>(prometheus.url, '/api/v1/alerts')
  assert.deepEqual(
    before.alerts.filter((alert) => alert.labels.area === 'outbox').map((alert) => alert.labels.alertname),
    [],
  )
  await roles.get('relay')?.stop()
  const alerts = await until(
    'PayrailOutboxRelayDown pending',
    async () => {
      const { alerts } = await api<{ alerts: Alert[] }>(prometheus.url, '/api/v1/alerts')
      return alerts.some(
        (alert) => alert.labels.alertname === 'PayrailOutboxRelayDown' && alert.state !== 'inactive',
      )
        ? alerts
        : undefined
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  )
  const relayDown = alerts.find((alert) => alert.labels.alertname === 'PayrailOutboxRelayDown')
  assert.equal(relayDown?.state, 'pending', 'for: 1m keeps it pending at first')
  assert.equal(relayDown?.labels.severity, 'critical')
  // Nothing else is wrong with the platform.
  const others = alerts
    .filter(
      (alert) => !['PayrailOutboxRelayDown', 'PayrailTargetDown'].includes(alert.labels.alertname as string),
    )
    .map((alert) => alert.labels.alertname)
  assert.deepEqual(others, [])
})

test('payrail monitoring starts Prometheus (and Alertmanager) for a target folder, prints the URL and stops on SIGTERM', async (t) => {
  if (requireTool(t, 'prometheus') === undefined) return
  const dir = tempDir(t, 'payrail-monitoring-cli-')
  const [prometheusPort, alertmanagerPort] = await freePorts(2)
  const targets = writeTargets(join(dir, 'targets'), {
    ...Object.fromEntries(ROLES.map((role) => [role, [`127.0.0.1:${prometheusPort}`]])),
    alertmanager: [`127.0.0.1:${alertmanagerPort}`],
  })
  const { child, output, exited } = spawnCli(
    t,
    ['monitoring', '--port', String(prometheusPort), '--targets', targets, '--data', join(dir, 'data')],
    { cwd: ROOT },
  )
  await until(
    'payrail monitoring ready',
    () => {
      assert.equal(child.exitCode, null, output())
      return output().includes('Press Ctrl-C to stop.')
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  )
  const url = `http://127.0.0.1:${prometheusPort}`
  assert.match(output(), new RegExp(`Prometheus +${url}`))
  const { groups } = await api<{ groups: RuleGroup[] }>(url, '/api/v1/rules')
  assert.ok(
    groups.some((group) => group.name === 'payrail-outbox-alerts'),
    'the rules are loaded',
  )
  // The target files name this Prometheus itself for every role: it finds them all.
  await until(
    'a target per role from the file_sd files',
    async () => {
      const { activeTargets } = await api<{ activeTargets: ActiveTarget[] }>(url, '/api/v1/targets')
      const jobs = new Set(activeTargets.map((target) => target.labels.job))
      return ROLES.every((role) => jobs.has(role))
    },
    { timeoutMs: 10_000, intervalMs: 200 },
  )
  if (existsSync('/usr/bin/prometheus-alertmanager') || output().includes('Alertmanager  http')) {
    assert.match(output(), new RegExp(`Alertmanager +http://127\\.0\\.0\\.1:${alertmanagerPort}`))
    await until(
      'Prometheus to discover the Alertmanager',
      async () => {
        const data = await api<{ activeAlertmanagers: { url: string }[] }>(url, '/api/v1/alertmanagers')
        return data.activeAlertmanagers.some((am) => am.url.includes(`:${alertmanagerPort}/`))
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    )
  }
  child.kill('SIGTERM')
  const [code] = await exited
  assert.equal(code, 0, output())
  assert.match(output(), /stopped/)
  assert.equal(existsSync(join(dir, 'data', 'prometheus')), true, 'the TSDB lives under --data')
})

test('payrail monitoring without Prometheus names the Debian package', async () => {
  const result = await runCli(['monitoring', '--port', '1'], { PATH: dirname(process.execPath) })
  assert.equal(result.code, 1, result.stderr)
  assert.match(result.stderr, /Prometheus is not installed: install Debian's package prometheus/)
  assert.doesNotMatch(result.stderr, /at .*\.ts:\d+/, 'a known error prints no stack')
})
