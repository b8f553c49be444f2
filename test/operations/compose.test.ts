import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { test } from 'node:test'
import { parseEnv } from 'node:util'
import { parse } from 'yaml'
import { ROOT } from '../../src/cli/context.ts'
import { type Config, loadConfig, variableNames } from '../../src/config/load.ts'
import { parseDuration } from '../../src/load/options.ts'
import { requireTool } from '../helpers/services.ts'

// The compose files of deploy/compose/, rendered by docker-compose with each environment file of
// deploy/env/ and read back: there is no container engine here, so what can be checked without
// running them is checked on the rendered result. Each check returns the problems it finds, so
// that a failure lists all of them.

const COMPOSE_DIR = join(ROOT, 'deploy', 'compose')
const ENV_DIR = join(ROOT, 'deploy', 'env')
const COMPOSE_FILES = readdirSync(COMPOSE_DIR).filter((name) => name.endsWith('.yml'))
const ENV_FILES = ['local.env', 'cloud.env.example']
/** The layouts one runs; services.yml is the part they share. A layout's files may reach each other only through STATE_HOST. */
const LAYOUTS = [['all-in-one.yml'], ['state.yml', 'app.yml']]

interface Service {
  image?: string
  command?: string[]
  environment?: Record<string, string>
  healthcheck?: { test?: string[]; disable?: boolean }
  restart?: string
  stop_grace_period?: string
  ports?: (string | { host_ip?: string; published: number | string; target: number })[]
  volumes?: (string | { type: string; source: string; target: string })[]
  depends_on?: Record<string, { condition: string }>
}
type Services = Record<string, Service>

/** The variable naming each role's port (relay and workers: their health and metrics port). */
const ROLE_PORT = {
  gateway: 'GATEWAY_PORT',
  api: 'API_PORT',
  acquirer: 'ACQUIRER_PORT',
  relay: 'RELAY_METRICS_PORT',
  worker: 'WORKER_METRICS_PORT',
  dashboard: 'DASHBOARD_PORT',
  notifier: 'NOTIFIER_METRICS_PORT',
} as const satisfies Record<string, keyof Config>
/** What each role must be told to reach, and the kind of service that must answer there. */
const LINKS: Record<string, Partial<Record<keyof Config, string>>> = {
  migrate: { DATABASE_URL: 'mariadb' },
  topics: { KAFKA_BROKERS: 'kafka' },
  acquirer: {},
  api: { DATABASE_URL: 'mariadb', KAFKA_BROKERS: 'kafka', ACQUIRER_URL: 'acquirer' },
  relay: { DATABASE_URL: 'mariadb', KAFKA_BROKERS: 'kafka' },
  worker: { DATABASE_URL: 'mariadb', KAFKA_BROKERS: 'kafka', ACQUIRER_URL: 'acquirer' },
  notifier: { DATABASE_URL: 'mariadb', KAFKA_BROKERS: 'kafka' },
  gateway: { GATEWAY_UPSTREAM_API: 'api', REDIS_URL: 'redis' },
}
const ONE_SHOTS = new Set(['migrate', 'topics'])
/** Ports of the other images, by repository, as their images configure them. */
const IMAGE_PORTS: Record<string, number[]> = {
  mariadb: [3306],
  redis: [6379],
  prometheus: [9090],
  alertmanager: [9093],
  grafana: [3000],
}
/** How long a role may take to stop after SIGTERM (src/cli/run-role.ts); Docker must wait longer before SIGKILL. */
const SHUTDOWN_DEADLINE_MS = Number(
  /SHUTDOWN_DEADLINE_MS = ([\d_]+)/
    .exec(readFileSync(join(ROOT, 'src', 'cli', 'run-role.ts'), 'utf8'))?.[1]
    ?.replaceAll('_', ''),
)
/** The variable holding the address of the machine each file of the two-machine layout runs on. */
const MACHINE: Record<string, string> = { 'state.yml': 'STATE_HOST', 'app.yml': 'APP_HOST' }
/** The gateway's upstream client of the original system, which must be variables of its service. */
const GATEWAY_CLIENT = [
  'GATEWAY_CONNECT_TIMEOUT_MS',
  'GATEWAY_RESPONSE_TIMEOUT_MS',
  'GATEWAY_POOL_MAX_CONNECTIONS',
  'GATEWAY_POOL_ACQUIRE_TIMEOUT_MS',
]

const envOf = (envFile: string) =>
  parseEnv(readFileSync(join(ENV_DIR, envFile), 'utf8')) as Record<string, string>

const rendered = new Map<string, Services>()
/** Renders with nothing but the environment file: compose lets the shell's variables win over it. */
function render(tool: string, envFile: string, file: string): Services {
  const key = `${envFile} ${file}`
  const cached = rendered.get(key)
  if (cached) return cached
  const result = spawnSync(
    tool,
    ['--env-file', join(ENV_DIR, envFile), '-f', join(COMPOSE_DIR, file), 'config'],
    {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir() },
    },
  )
  assert.equal(result.status, 0, `docker-compose config of ${file} with ${envFile}: ${result.stderr}`)
  assert.doesNotMatch(result.stderr, /variable is not set/i, `${file} uses a variable ${envFile} lacks`)
  const services = (parse(result.stdout) as { services: Services }).services
  rendered.set(key, services)
  return services
}

const isPayrail = (service: Service, env: Record<string, string>) => service.image === env.PAYRAIL_IMAGE
const roleOf = (service: Service) => service.command?.[0] ?? ''

/** Kind of a service: its payrail role, or what its image runs (`apache/kafka:4.3.1`: kafka). */
function kindOf(service: Service, env: Record<string, string>): string {
  if (isPayrail(service, env)) return roleOf(service)
  return (service.image ?? '').split(':')[0]?.split('/').at(-1) ?? ''
}

function configOf(service: Service): Config {
  return loadConfig({ env: service.environment ?? {}, envFile: '/dev/null' })
}

/** Ports a service listens on inside its network. */
function listening(service: Service, env: Record<string, string>): number[] {
  if (isPayrail(service, env)) {
    const variable = ROLE_PORT[roleOf(service) as keyof typeof ROLE_PORT]
    return variable === undefined ? [] : [configOf(service)[variable]]
  }
  if (kindOf(service, env) === 'kafka') {
    const listeners = service.environment?.KAFKA_LISTENERS ?? ''
    return [...listeners.matchAll(/:(\d+)(?:,|$)/g)].map((match) => Number(match[1]))
  }
  return IMAGE_PORTS[kindOf(service, env)] ?? []
}

function publishedPorts(service: Service): { hostIp: string; published: number; target: number }[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port !== 'string')
      return { hostIp: port.host_ip ?? '', published: Number(port.published), target: port.target }
    const [, hostIp = '', published, target] = /^(?:(.+):)?(\d+):(\d+)(?:\/\w+)?$/.exec(port) ?? []
    return { hostIp, published: Number(published), target: Number(target) }
  })
}

/** Each address a link variable holds, as host and port. */
function endpoints(variable: string, value: string): { host: string; port: number; url?: URL }[] {
  if (variable === 'KAFKA_BROKERS')
    return value.split(',').map((pair) => {
      const [host = '', port] = pair.split(':')
      return { host, port: Number(port) }
    })
  const defaults: Record<string, number> = { 'mysql:': 3306, 'redis:': 6379, 'http:': 80 }
  return value.split(',').map((text) => {
    const url = new URL(text)
    return { host: url.hostname, port: Number(url.port || defaults[url.protocol]), url }
  })
}

interface Place {
  file: string
  services: Services
}

/**
 * Where `host:port` leads from a service of `from`: a service of the same file listening on that
 * port, or, through a machine's address (STATE_HOST, APP_HOST), a service of the layout that
 * publishes the port there.
 */
function resolve(host: string, port: number, from: Place, layout: Place[], env: Record<string, string>) {
  const local = from.services[host]
  if (local)
    return listening(local, env).includes(port)
      ? { service: local, port }
      : `${host} does not listen on ${port}`
  if (host !== env.STATE_HOST && host !== env.APP_HOST)
    return `${host} is neither a service of ${from.file} nor STATE_HOST or APP_HOST`
  for (const place of layout)
    for (const [name, service] of Object.entries(place.services))
      for (const published of publishedPorts(service))
        if (
          published.published === port &&
          (published.hostIp === host ||
            (['', '0.0.0.0'].includes(published.hostIp) && env[MACHINE[place.file] ?? ''] === host))
        )
          return listening(service, env).includes(published.target)
            ? { service, port: published.target }
            : `${place.file} publishes ${name}'s port ${published.target}, where it does not listen`
  return `no service of ${layout.map((p) => p.file).join(', ')} publishes ${host}:${port}`
}

function linkProblems(place: Place, layout: Place[], env: Record<string, string>): string[] {
  const problems: string[] = []
  for (const [name, service] of Object.entries(place.services)) {
    if (!isPayrail(service, env)) continue
    for (const [variable, kind] of Object.entries(LINKS[roleOf(service)] ?? {})) {
      const value = service.environment?.[variable]
      if (!value) {
        problems.push(`${name} does not set ${variable}`)
        continue
      }
      for (const { host, port, url } of endpoints(variable, value)) {
        const target = resolve(host, port, place, layout, env)
        if (typeof target === 'string') {
          problems.push(`${name} ${variable}: ${target}`)
          continue
        }
        if (kindOf(target.service, env) !== kind)
          problems.push(`${name} ${variable} leads to a ${kindOf(target.service, env)}, not a ${kind}`)
        if (kind === 'kafka') {
          const advertised = target.service.environment?.KAFKA_ADVERTISED_LISTENERS ?? ''
          if (!advertised.split(',').some((listener) => listener.endsWith(`//${host}:${port}`)))
            problems.push(
              `${name} bootstraps from ${host}:${port}, which Kafka does not advertise (${advertised})`,
            )
        }
        if (kind === 'mariadb' && url) {
          const db = target.service.environment ?? {}
          const credentials = [
            decodeURIComponent(url.username),
            decodeURIComponent(url.password),
            url.pathname.slice(1),
          ]
          if (credentials.join(' ') !== [db.MARIADB_USER, db.MARIADB_PASSWORD, db.MARIADB_DATABASE].join(' '))
            problems.push(
              `${name} DATABASE_URL's user, password or database differs from the database service's`,
            )
        }
      }
    }
  }
  return problems
}

function serviceProblems(place: Place, env: Record<string, string>): string[] {
  const problems: string[] = []
  const known = new Set<string>(variableNames)
  for (const [name, service] of Object.entries(place.services)) {
    if (!service.restart) problems.push(`${name} has no restart policy`)
    const oneShot = isPayrail(service, env) && ONE_SHOTS.has(roleOf(service))
    if (service.healthcheck?.disable === true) {
      if (!oneShot || service.restart !== 'no') problems.push(`${name} runs on without a health check`)
    } else if (!service.healthcheck?.test?.length) problems.push(`${name} has no health check`)
    const ports = listening(service, env)
    if (isPayrail(service, env)) {
      const unknown = Object.keys(service.environment ?? {}).filter((variable) => !known.has(variable))
      if (unknown.length > 0)
        problems.push(`${name} sets variables payrail does not read: ${unknown.join(', ')}`)
      try {
        configOf(service)
      } catch (error) {
        problems.push(`${name}: ${(error as Error).message}`)
        continue
      }
      if (
        !oneShot &&
        !(parseDuration('stop_grace_period', service.stop_grace_period ?? '10s') > SHUTDOWN_DEADLINE_MS)
      )
        problems.push(
          `${name} may be killed before its ${SHUTDOWN_DEADLINE_MS} ms shutdown ends (stop_grace_period)`,
        )
      const check = service.healthcheck?.test ?? []
      if (!oneShot && !(check.join(' ').includes('/readyz') && ports.includes(Number(check.at(-1)))))
        problems.push(`${name}'s health check does not ask /readyz on its port ${ports.join(', ')}`)
    } else {
      const asked = [
        ...(service.healthcheck?.test ?? []).join(' ').matchAll(/(?:127\.0\.0\.1|localhost):(\d+)/g),
      ]
      for (const match of asked)
        if (!ports.includes(Number(match[1])))
          problems.push(`${name}'s health check asks port ${match[1]}, not its own`)
    }
    for (const { published, target } of publishedPorts(service))
      if (!ports.includes(target))
        problems.push(`${name} publishes ${published} to port ${target}, where it does not listen`)
    for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {}))
      if (ONE_SHOTS.has(dependency) && condition !== 'service_completed_successfully')
        problems.push(`${name} waits for ${dependency} with ${condition}, not its successful completion`)
    // services.yml is no layout of its own: the files that extend it say the order.
    if (isPayrail(service, env) && !oneShot && LAYOUTS.flat().includes(place.file)) {
      const needs = Object.keys(LINKS[roleOf(service)] ?? {})
      if (place.services.migrate && needs.includes('DATABASE_URL') && !service.depends_on?.migrate)
        problems.push(`${name} does not wait for migrate`)
      if (place.services.topics && needs.includes('KAFKA_BROKERS') && !service.depends_on?.topics)
        problems.push(`${name} does not wait for topics`)
    }
  }
  return problems
}

/** Every payrail process's pool fits in the database's connection limit (the relay uses 8 at most). */
function poolProblems(places: Place[], env: Record<string, string>): string[] {
  const all = places.flatMap((place) => Object.values(place.services))
  const database = all.find((service) => kindOf(service, env) === 'mariadb')
  const limit = Number(/--max-connections=(\d+)/.exec(database?.command?.join(' ') ?? '')?.[1] ?? 151)
  const used = all
    .filter((service) => isPayrail(service, env) && service.environment?.DATABASE_URL)
    .map((service) => {
      const role = roleOf(service)
      const poolMax = configOf(service).DB_POOL_MAX
      return ONE_SHOTS.has(role) ? 2 : role === 'relay' ? Math.min(poolMax, 8) : poolMax
    })
    .reduce((sum, pool) => sum + pool, 0)
  return used <= limit - 10 ? [] : [`${used} pooled connections, ${limit} allowed (10 kept for operators)`]
}

/**
 * Prometheus' targets (deploy/prometheus/targets/<PROMETHEUS_TARGETS>/<job>.yml) name, from the
 * Prometheus service, a service of that job on a port it listens on. `compose` targets are for
 * the one-box layout, the others for the two machines.
 */
function targetProblems(places: Place[], env: Record<string, string>): string[] {
  const folder = join(ROOT, 'deploy', 'prometheus', 'targets', env.PROMETHEUS_TARGETS ?? '')
  const prometheus = places.find((place) => place.services.prometheus)
  const oneBox = places.some((place) => place.file === 'all-in-one.yml')
  if (!existsSync(folder) || !prometheus || (env.PROMETHEUS_TARGETS === 'compose') !== oneBox) return []
  const problems: string[] = []
  for (const file of readdirSync(folder).filter((name) => /\.ya?ml$/.test(name))) {
    const job = file.replace(/\.ya?ml$/, '')
    const groups = parse(readFileSync(join(folder, file), 'utf8')) as { targets: string[] }[]
    for (const address of groups.flatMap((group) => group.targets)) {
      const [host = '', port] = address.split(':')
      const target = resolve(host, Number(port), prometheus, places, env)
      if (typeof target === 'string') problems.push(`${file}: ${address}: ${target}`)
      else if (kindOf(target.service, env) !== job)
        problems.push(`${file}: ${address} is a ${kindOf(target.service, env)}`)
    }
  }
  return problems
}

/** Host folders and files a file mounts, which must be in the repository. */
function mountProblems(services: Services): string[] {
  const problems: string[] = []
  for (const [name, service] of Object.entries(services))
    for (const volume of service.volumes ?? []) {
      const source =
        typeof volume === 'string'
          ? (volume.split(':')[0] ?? '')
          : volume.type === 'bind'
            ? volume.source
            : ''
      if (!source.startsWith('/')) continue
      if (!source.startsWith(ROOT)) problems.push(`${name} mounts ${source}, outside the repository`)
      else if (!existsSync(source))
        problems.push(`${name} mounts ${relative(ROOT, source)}, which does not exist`)
    }
  return problems
}

for (const envFile of ENV_FILES)
  for (const file of COMPOSE_FILES)
    test(`${file} with ${envFile}: renders; every service is healthy-checked, restarted and set up with payrail's variables`, (t) => {
      const tool = requireTool(t, 'docker-compose')
      if (tool === undefined) return
      const env = envOf(envFile)
      const place = { file, services: render(tool, envFile, file) }
      assert.deepEqual(serviceProblems(place, env), [])
      const gateway = place.services.gateway?.environment
      const pick = (from: Record<string, string>) => GATEWAY_CLIENT.map((variable) => from[variable])
      if (gateway)
        assert.deepEqual(pick(gateway), pick(env), `the gateway's client settings come from ${envFile}`)
    })

// The monitoring configuration comes from deploy/prometheus, deploy/alertmanager and deploy/grafana.
for (const envFile of ENV_FILES)
  test(`every host path the compose files mount with ${envFile} is in the repository`, (t) => {
    const tool = requireTool(t, 'docker-compose')
    if (tool === undefined) return
    assert.deepEqual(
      [...new Set(COMPOSE_FILES.flatMap((file) => mountProblems(render(tool, envFile, file))))],
      [],
    )
  })

for (const envFile of ENV_FILES)
  for (const layout of LAYOUTS)
    test(`${layout.join(' + ')} with ${envFile}: every address and Prometheus target names a service on a port it listens on; the pools fit the database`, (t) => {
      const tool = requireTool(t, 'docker-compose')
      if (tool === undefined) return
      const env = envOf(envFile)
      const places = layout.map((file) => ({ file, services: render(tool, envFile, file) }))
      assert.deepEqual(
        places.flatMap((place) => linkProblems(place, places, env)),
        [],
      )
      assert.deepEqual(poolProblems(places, env), [])
      assert.deepEqual(targetProblems(places, env), [])
    })

test('the environment files set every variable the compose files use, and none they do not', () => {
  const used = new Set(
    COMPOSE_FILES.flatMap((file) =>
      [...readFileSync(join(COMPOSE_DIR, file), 'utf8').matchAll(/\$\{(\w+)/g)].map(
        (match) => match[1] as string,
      ),
    ),
  )
  for (const envFile of ENV_FILES) {
    const keys = Object.keys(envOf(envFile))
    const unused = keys.filter((key) => !used.has(key))
    const missing = [...used].filter((key) => !keys.includes(key))
    assert.deepEqual({ unused, missing }, { unused: [], missing: [] }, envFile)
  }
  assert.deepEqual(
    Object.keys(envOf('local.env')),
    Object.keys(envOf('cloud.env.example')),
    'same keys, same order',
  )
})

test('no secret is committed: local.env holds local-only values, the example placeholders', () => {
  const secret = /PASSWORD|TOKEN|SECRET/
  for (const [envFile, allowed] of [
    ['local.env', /^$|local/],
    ['cloud.env.example', /^(|CHANGE_ME)$/],
  ] as const)
    for (const [key, value] of Object.entries(envOf(envFile)))
      if (secret.test(key))
        assert.match(value, allowed, `${envFile}: ${key} must be local-only or a placeholder`)
})

test('Kafka runs the version of the local broker (tools/kafka/pom.xml)', () => {
  const version = /<kafka\.version>([^<]+)</.exec(
    readFileSync(join(ROOT, 'tools', 'kafka', 'pom.xml'), 'utf8'),
  )?.[1]
  assert.match(
    readFileSync(join(COMPOSE_DIR, 'services.yml'), 'utf8'),
    new RegExp(`image: apache/kafka:${version}\\n`),
  )
})

test('scripts/ci/compose-check.sh passes with local.env and fails when a variable is missing', (t) => {
  if (requireTool(t, 'docker-compose') === undefined) return
  const script = join(ROOT, 'scripts', 'ci', 'compose-check.sh')
  const good = spawnSync(script, [join(ENV_DIR, 'local.env')], { encoding: 'utf8' })
  assert.equal(good.status, 0, good.stderr)
  assert.equal(good.stdout.match(/^ok /gm)?.length, COMPOSE_FILES.length, good.stdout)
  const folder = mkdtempSync(join(tmpdir(), 'payrail-compose-'))
  try {
    const broken = join(folder, 'broken.env')
    writeFileSync(broken, readFileSync(join(ENV_DIR, 'local.env'), 'utf8').replace(/^API_PORT=.*$/m, ''))
    const bad = spawnSync(script, [broken], { encoding: 'utf8' })
    assert.equal(bad.status, 1, bad.stdout)
    assert.match(bad.stderr, /API_PORT/)
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
})

test('both CI pipelines run the shared scripts, the compose check with an environment file', () => {
  const jenkins = readFileSync(join(ROOT, 'Jenkinsfile'), 'utf8')
  const workflow = parse(readFileSync(join(ROOT, '.github', 'workflows', 'ci.yml'), 'utf8')) as {
    jobs: Record<string, { steps: { run?: string }[] }>
  }
  const runs = Object.values(workflow.jobs).flatMap((job) => job.steps.map((step) => step.run ?? ''))
  for (const [pipeline, text] of [
    ['Jenkinsfile', jenkins],
    ['ci.yml', runs.join('\n')],
  ] as const) {
    assert.match(text, /scripts\/ci\/test\.sh/, `${pipeline} runs the tests`)
    assert.match(text, /scripts\/ci\/compose-check\.sh "\$ENV_FILE"/, `${pipeline} checks the compose files`)
  }
})
