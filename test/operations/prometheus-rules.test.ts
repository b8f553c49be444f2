import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { type TestContext, test } from 'node:test'
import { promisify } from 'node:util'
import { parse, stringify } from 'yaml'
import { ROOT } from '../../src/cli/context.ts'
import {
  fileTargets,
  monitoringEnvironments,
  prepareMonitoringConfig,
  prometheusFolder,
  targetsFolder,
} from '../../src/cli/monitoring-config.ts'
import { loadConfig } from '../../src/config/load.ts'
import { DEFAULT_METRICS, readMetricCatalog, seriesNames } from '../../support/metric-catalog.ts'
import { requireTool } from '../helpers/services.ts'

const FOLDER = prometheusFolder(ROOT)
const RULES = join(FOLDER, 'rules')
const TESTS = join(FOLDER, 'tests')
const ROLES = ['gateway', 'api', 'acquirer', 'relay', 'worker', 'notifier'] as const

interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[]
}
interface AlertTest {
  eval_time: string
  alertname: string
  exp_alerts?: unknown[]
}
interface TestFile {
  tests: { name: string; alert_rule_test?: AlertTest[] }[]
}

const yamlFiles = (folder: string) =>
  readdirSync(folder)
    .filter((name) => name.endsWith('.yml'))
    .sort()
    .map((name) => join(folder, name))
const ruleFiles = () => yamlFiles(RULES)
const testFiles = () => yamlFiles(TESTS)
const readYaml = <T>(file: string) => parse(readFileSync(file, 'utf8')) as T
const alerts = () =>
  ruleFiles().flatMap((file) =>
    readYaml<RuleFile>(file).groups.flatMap((group) => group.rules.filter((rule) => rule.alert)),
  )

const execFileAsync = promisify(execFile)

/** Runs a program to its end; its exit code and everything it wrote (stdout, then stderr). */
async function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { maxBuffer: 64 << 20 })
    return { code: 0, output: `${stdout}${stderr}` }
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string }
    return {
      code: typeof failed.code === 'number' ? failed.code : null,
      output: `${failed.stdout}${failed.stderr}`,
    }
  }
}

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('promtool accepts every rule file and the configuration of every environment', async (t) => {
  const promtool = requireTool(t, 'promtool')
  if (promtool === undefined) return
  const rules = await run(promtool, ['check', 'rules', ...ruleFiles()])
  assert.equal(rules.code, 0, rules.output)
  for (const environment of monitoringEnvironments(ROOT)) {
    const config = prepareMonitoringConfig({
      root: ROOT,
      dir: join(tempDir(t, 'payrail-prometheus-'), 'config'),
      targets: targetsFolder(ROOT, environment),
    })
    const checked = await run(promtool, ['check', 'config', config])
    assert.equal(checked.code, 0, `${environment}:\n${checked.output}`)
  }
})

test('every environment has a target file per role and one for Alertmanager; local and compose point at the roles', () => {
  assert.deepEqual(monitoringEnvironments(ROOT), ['cloud.example', 'compose', 'local'])
  for (const environment of monitoringEnvironments(ROOT)) {
    const files = readdirSync(targetsFolder(ROOT, environment)).sort()
    assert.deepEqual(files, [...ROLES, 'alertmanager'].map((name) => `${name}.yml`).sort(), environment)
    for (const file of files)
      assert.ok(
        fileTargets(join(targetsFolder(ROOT, environment), file)).length > 0,
        `${environment}/${file}`,
      )
  }
  const cfg = loadConfig({ env: {}, envFile: '/nonexistent' })
  const defaults = {
    gateway: cfg.GATEWAY_PORT,
    api: cfg.API_PORT,
    acquirer: cfg.ACQUIRER_PORT,
    relay: cfg.RELAY_METRICS_PORT,
    worker: cfg.WORKER_METRICS_PORT,
    notifier: cfg.NOTIFIER_METRICS_PORT,
  }
  for (const role of ROLES) {
    assert.deepEqual(fileTargets(join(targetsFolder(ROOT, 'local'), `${role}.yml`)), [
      `127.0.0.1:${defaults[role]}`,
    ])
    // The compose files name each service after its role and keep its default port.
    assert.deepEqual(fileTargets(join(targetsFolder(ROOT, 'compose'), `${role}.yml`)), [
      `${role}:${defaults[role]}`,
    ])
  }
  const jobs = [...readFileSync(join(FOLDER, 'prometheus.yml'), 'utf8').matchAll(/job_name: (\S+)/g)]
  assert.deepEqual(
    jobs.map((match) => match[1]),
    [...ROLES],
  )
})

test('every alert has a severity, a summary, a description with its values and a runbook section', () => {
  const runbooks = readFileSync(join(ROOT, 'docs', 'runbooks.md'), 'utf8')
  const sections = [...runbooks.matchAll(/^## (\S+)$/gm)].map((match) => match[1])
  const names = alerts().map((rule) => rule.alert as string)
  assert.ok(names.length >= 20, `${names.length} alerts`)
  assert.equal(new Set(names).size, names.length, 'alert names are unique')
  for (const rule of alerts()) {
    const name = rule.alert as string
    assert.ok(['critical', 'warning'].includes(rule.labels?.severity ?? ''), `${name}: severity`)
    assert.ok(rule.labels?.area, `${name}: area`)
    assert.ok(rule.annotations?.summary, `${name}: summary`)
    const description = rule.annotations?.description ?? ''
    // absent() has no value to show; every other alert says what it measured.
    assert.ok(description.includes('{{') || rule.expr.startsWith('absent('), `${name}: description values`)
    assert.equal(rule.annotations?.runbook_url, `docs/runbooks.md#${name.toLowerCase()}`, name)
    assert.ok(sections.includes(name), `docs/runbooks.md has no section "## ${name}"`)
  }
  assert.deepEqual([...sections].sort(), [...names].sort(), 'a runbook section per alert, and no other')
})

test('every metric the rules and runbooks name is in the catalog of docs/metrics.md', () => {
  const catalog = readMetricCatalog()
  const series = seriesNames(catalog)
  // Rules read series; runbooks may also name a histogram by its base name.
  const metrics = new Set([...series, ...catalog.keys(), ...DEFAULT_METRICS.keys()])
  const names = (text: string) => [...text.matchAll(/\bpayrail_[a-z0-9_]+/g)].map((match) => match[0])
  const rules = ruleFiles().flatMap((file) =>
    readYaml<RuleFile>(file).groups.flatMap((group) => group.rules.flatMap((rule) => names(rule.expr))),
  )
  assert.ok(rules.length > 20, `${rules.length} metric names in the rules`)
  assert.deepEqual([...new Set(rules.filter((name) => !series.has(name)))], [], 'unknown series in the rules')
  const runbooks = names(readFileSync(join(ROOT, 'docs', 'runbooks.md'), 'utf8'))
  assert.deepEqual(
    [...new Set(runbooks.filter((name) => !metrics.has(name)))],
    [],
    'unknown metrics in docs/runbooks.md',
  )
})

test('the SLO objective is one parameter per SLO that every burn-rate alert reads', () => {
  const slo = readYaml<RuleFile>(join(RULES, 'slo.rules.yml'))
  const objectives = slo.groups.flatMap((group) =>
    group.rules.filter((rule) => rule.record === 'payrail:slo_objective:ratio'),
  )
  assert.deepEqual(objectives.map((rule) => rule.labels?.slo).sort(), ['availability', 'latency'])
  const burns = alerts().filter((rule) => rule.alert?.startsWith('PayrailErrorBudgetBurn'))
  assert.equal(burns.length, 3)
  for (const rule of burns) {
    assert.match(rule.expr, /payrail:slo_objective:ratio/, rule.alert)
    assert.doesNotMatch(rule.expr, /0\.99/, `${rule.alert} repeats the objective`)
  }
})

test('promtool test rules: every alert fires in one case and stays quiet in another', async (t) => {
  const promtool = requireTool(t, 'promtool')
  if (promtool === undefined) return
  const result = await run(promtool, ['test', 'rules', ...testFiles()])
  assert.equal(result.code, 0, result.output)
  const cases = testFiles().flatMap((file) =>
    readYaml<TestFile>(file).tests.flatMap((group) => group.alert_rule_test ?? []),
  )
  for (const rule of alerts()) {
    const own = cases.filter((test) => test.alertname === rule.alert)
    assert.ok(
      own.some((test) => (test.exp_alerts ?? []).length > 0),
      `${rule.alert}: no case where it fires`,
    )
    assert.ok(
      own.some((test) => (test.exp_alerts ?? []).length === 0),
      `${rule.alert}: no case where it must not fire`,
    )
  }
})

/**
 * The unit tests with every alert's expression replaced by `expr`, in a copy of rules/ and
 * tests/: the names of the alerts whose cases then fail (with `quietOnly`, only the cases that
 * expect no alert).
 */
async function failingWith(
  t: TestContext,
  promtool: string,
  expr: string,
  quietOnly: boolean,
): Promise<Set<string>> {
  const dir = tempDir(t, 'payrail-rules-mutant-')
  cpSync(TESTS, join(dir, 'tests'), { recursive: true })
  cpSync(RULES, join(dir, 'rules'), { recursive: true })
  for (const file of ruleFiles()) {
    const rules = readYaml<RuleFile>(file)
    for (const group of rules.groups) for (const rule of group.rules) if (rule.alert) rule.expr = expr
    writeFileSync(join(dir, 'rules', basename(file)), stringify(rules))
  }
  const result = await run(promtool, ['test', 'rules', ...yamlFiles(join(dir, 'tests'))])
  assert.notEqual(result.code, 0, `promtool passed every test with expr ${expr}`)
  const failed = quietOnly ? /alertname: (\w+), time: \S+, *\n\s*exp:\[\],/g : /alertname: (\w+), time:/g
  return new Set([...result.output.matchAll(failed)].map((match) => match[1] as string))
}

// An alert that always fires must fail a case that expects silence (not merely a case whose
// labels then differ), and one evaluated after the alert's `for`, else that case proves nothing.
test('the unit tests catch an alert that never fires and one that always fires', async (t) => {
  const promtool = requireTool(t, 'promtool')
  if (promtool === undefined) return
  const [never, always] = await Promise.all([
    failingWith(t, promtool, 'vector(0) > 1', false),
    failingWith(t, promtool, 'vector(1)', true),
  ])
  const missed = alerts().flatMap((rule) => [
    ...(never.has(rule.alert as string) ? [] : [`no case fails when ${rule.alert} never fires`]),
    ...(always.has(rule.alert as string) ? [] : [`no quiet case fails when ${rule.alert} always fires`]),
  ])
  assert.deepEqual(missed, [])
})

test('amtool accepts the example Alertmanager configuration', async (t) => {
  const amtool = requireTool(t, 'amtool')
  if (amtool === undefined) return
  const result = await run(amtool, ['check-config', join(ROOT, 'deploy', 'alertmanager', 'alertmanager.yml')])
  assert.equal(result.code, 0, result.output)
  assert.match(result.output, /SUCCESS/)
})
