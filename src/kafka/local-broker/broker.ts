import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { hasErrorCode, PayrailError } from '../../domain/errors.ts'
import { LOCAL_BROKER, probeCluster } from '../connection.ts'
import { ensureDistribution, KAFKA_VERSION, requireJava } from './distribution.ts'

export interface LocalBrokerOptions {
  /** The repository root; broker data, pid and log live in `<root>/.payrail/kafka`. */
  root: string
  /** Another place for data, pid and log (a second broker, in tests). Default: `<root>/.payrail/kafka`. */
  stateDir?: string
  /** Client listener port on 127.0.0.1. Default: 9092. */
  port?: number
  /** Controller listener port. Default: the client port + 1. */
  controllerPort?: number
  /** Jar cache; see `ensureDistribution`. */
  cacheDir?: string
  /** Longest wait for the broker to serve metadata after launch. Default: 120000. */
  startTimeoutMs?: number
  /** Maximum JVM heap. Default: `512m`, the ceiling the project allows itself. */
  heap?: string
  say: (line: string) => void
}

export interface BrokerStatus {
  running: boolean
  /** The pid of the broker that this checkout started, when it is alive. */
  pid?: number
  /** Whether a client can fetch metadata from 127.0.0.1:9092 (any broker, ours or not). */
  reachable: boolean
  clusterId?: string
  version: string
  logFile: string
}

const host = '127.0.0.1'

function paths(options: Pick<LocalBrokerOptions, 'root' | 'stateDir'>) {
  const dir = options.stateDir ?? join(options.root, '.payrail', 'kafka')
  return {
    dir,
    data: join(dir, 'data'),
    config: join(dir, 'server.properties'),
    log4j: join(dir, 'log4j2.properties'),
    pid: join(dir, 'broker.pid'),
    log: join(dir, 'broker.log'),
  }
}

function listenerOf(options: Pick<LocalBrokerOptions, 'port'>): string {
  return options.port === undefined ? LOCAL_BROKER : `${host}:${options.port}`
}

function serverProperties(dataDir: string, port: number, controllerPort: number): string {
  return `${[
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${host}:${controllerPort}`,
    `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${host}:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    // payrail creates its topics itself with the partition counts of DESIGN.md.
    'auto.create.topics.enable=false',
    // One node: internal topics cannot have more replicas than brokers.
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=6',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'log.retention.hours=24',
  ].join('\n')}\n`
}

const log4jProperties = `${[
  'status = warn',
  'appender.out.type = Console',
  'appender.out.name = out',
  'appender.out.layout.type = PatternLayout',
  'appender.out.layout.pattern = [%d] %p %m (%c)%n',
  // Warnings and the start/stop lines; INFO would write over a thousand lines per start.
  'rootLogger.level = WARN',
  'rootLogger.appenderRef.out.ref = out',
  'logger.server.name = kafka.server.KafkaRaftServer',
  'logger.server.level = INFO',
].join('\n')}\n`

/** A KRaft cluster id: 16 random bytes in URL-safe base64, never starting with '-' (CLIs read that as a flag). */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The recorded pid, if that process is still a Kafka broker (pids are reused). */
function recordedPid(options: Pick<LocalBrokerOptions, 'root' | 'stateDir'>): number | undefined {
  const file = paths(options).pid
  if (!existsSync(file)) return undefined
  const pid = Number(readFileSync(file, 'utf8').trim())
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined
  const cmdline = `/proc/${pid}/cmdline`
  if (existsSync(cmdline) && !readFileSync(cmdline, 'utf8').includes('kafka.Kafka')) return undefined
  return pid
}

async function reachable(listener: string): Promise<string | undefined> {
  try {
    const { clusterId } = await probeCluster({
      brokers: [listener],
      clientId: 'payrail-probe',
      timeoutMs: 1000,
    })
    return clusterId
  } catch (error) {
    if (hasErrorCode(error, 'KAFKA_UNAVAILABLE')) return undefined
    throw error
  }
}

function logTail(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no log)'
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
}

export async function brokerStatus(
  options: Pick<LocalBrokerOptions, 'root' | 'stateDir' | 'port'>,
): Promise<BrokerStatus> {
  const pid = recordedPid(options)
  const clusterId = await reachable(listenerOf(options))
  return {
    running: pid !== undefined,
    ...(pid === undefined ? {} : { pid }),
    reachable: clusterId !== undefined,
    ...(clusterId === undefined ? {} : { clusterId }),
    version: KAFKA_VERSION,
    logFile: paths(options).log,
  }
}

/**
 * Starts the single-node KRaft broker unless a broker already answers on 127.0.0.1:9092, and
 * returns once a client can fetch metadata. Returns `started: false` when one was reused.
 */
export async function startBroker(options: LocalBrokerOptions): Promise<{ started: boolean; pid?: number }> {
  const existing = await brokerStatus(options)
  if (existing.reachable) {
    options.say(
      `a Kafka broker already answers on ${listenerOf(options)}${existing.pid ? ` (pid ${existing.pid})` : ''}; reusing it`,
    )
    return { started: false, ...(existing.pid ? { pid: existing.pid } : {}) }
  }
  if (existing.pid !== undefined) {
    throw new PayrailError(
      'KAFKA_BROKER_START_FAILED',
      `broker pid ${existing.pid} is running but does not answer on ${listenerOf(options)}; run \`payrail kafka stop\` first`,
    )
  }
  requireJava()
  const libs = ensureDistribution(options)
  const p = paths(options)
  mkdirSync(p.dir, { recursive: true })
  const port = options.port ?? 9092
  writeFileSync(p.config, serverProperties(p.data, port, options.controllerPort ?? port + 1))
  writeFileSync(p.log4j, log4jProperties)
  const classpath = join(libs, '*')
  const jvm = [
    `-Xmx${options.heap ?? '512m'}`,
    '-Xms128m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
  ]
  const logging = `-Dlog4j2.configurationFile=${p.log4j}`

  if (!existsSync(join(p.data, 'meta.properties'))) {
    const format = spawnSync(
      'java',
      [
        ...jvm,
        logging,
        '-cp',
        classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        newClusterId(),
        '-c',
        p.config,
      ],
      { encoding: 'utf8' },
    )
    if (format.status !== 0) {
      throw new PayrailError(
        'KAFKA_BROKER_START_FAILED',
        `formatting KRaft storage failed:\n${format.stdout}${format.stderr}`,
      )
    }
  }

  const log = openSync(p.log, 'a')
  const child = spawn('java', [...jvm, logging, '-cp', classpath, 'kafka.Kafka', p.config], {
    detached: true,
    stdio: ['ignore', log, log],
  })
  closeSync(log)
  const pid = child.pid
  if (pid === undefined) throw new PayrailError('KAFKA_BROKER_START_FAILED', 'java could not be started')
  child.unref()
  writeFileSync(p.pid, `${pid}\n`)
  options.say(`started Kafka ${KAFKA_VERSION} (pid ${pid}, log ${p.log}); waiting for ${listenerOf(options)}`)

  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000)
  while (Date.now() < deadline) {
    if (!alive(pid)) {
      rmSync(p.pid, { force: true })
      throw new PayrailError(
        'KAFKA_BROKER_START_FAILED',
        `the broker exited during start-up; last lines of ${p.log}:\n${logTail(p.log)}`,
      )
    }
    if ((await reachable(listenerOf(options))) !== undefined) return { started: true, pid }
    await sleep(250)
  }
  await stopBroker(options)
  throw new PayrailError(
    'KAFKA_BROKER_START_FAILED',
    `the broker did not serve metadata in time; see ${p.log}`,
  )
}

/** Stops the broker this checkout started: SIGTERM (a clean shutdown), then SIGKILL after the grace period. */
export async function stopBroker(
  options: Pick<LocalBrokerOptions, 'root' | 'stateDir' | 'say'>,
  graceMs = 30_000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<boolean> {
  const p = paths(options)
  const pid = recordedPid(options)
  if (pid === undefined) {
    rmSync(p.pid, { force: true })
    return false
  }
  process.kill(pid, signal)
  const deadline = Date.now() + graceMs
  while (alive(pid) && Date.now() < deadline) await sleep(100)
  if (alive(pid)) {
    options.say(`broker pid ${pid} ignored SIGTERM for ${graceMs} ms; killing it`)
    process.kill(pid, 'SIGKILL')
    while (alive(pid)) await sleep(50)
  }
  rmSync(p.pid, { force: true })
  options.say(`stopped Kafka broker (pid ${pid})`)
  return true
}

export function brokerLogFile(root: string): string {
  return paths({ root }).log
}
