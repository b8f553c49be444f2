import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { hasErrorCode, PayrailError } from '../../domain/errors.ts'
import { probeCluster } from '../connection.ts'

/**
 * One KRaft process (broker and controller in one JVM) of the single broker or of a local
 * cluster: its files, its server.properties, formatting, launch and stop. broker.ts and
 * cluster.ts arrange nodes; this file knows nothing of how many there are beyond the quorum.
 */

export const host = '127.0.0.1'

export interface NodeLayout {
  /** KRaft node id, 1-based; also the voter id. */
  nodeId: number
  /** Data, pid, log and config of this node. */
  dir: string
  port: number
  controllerPort: number
}

export function nodePaths(dir: string) {
  return {
    dir,
    data: join(dir, 'data'),
    config: join(dir, 'server.properties'),
    log4j: join(dir, 'log4j2.properties'),
    pid: join(dir, 'broker.pid'),
    log: join(dir, 'broker.log'),
  }
}

/** The settings of one node of a quorum of `quorum.length` nodes (every node is a voter). */
export function serverProperties(node: NodeLayout, quorum: NodeLayout[]): string {
  // Internal topics cannot have more replicas than brokers; with three, one may be lost.
  const replication = Math.min(3, quorum.length)
  const minIsr = Math.min(2, replication)
  const voters = quorum.map((n) => `${n.nodeId}@${host}:${n.controllerPort}`).join(',')
  const lines = [
    'process.roles=broker,controller',
    `node.id=${node.nodeId}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://${host}:${node.port},CONTROLLER://${host}:${node.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${host}:${node.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${nodePaths(node.dir).data}`,
    'num.partitions=1',
    // payrail creates its topics itself with the partition counts of DESIGN.md.
    'auto.create.topics.enable=false',
    `offsets.topic.replication.factor=${replication}`,
    'offsets.topic.num.partitions=6',
    `transaction.state.log.replication.factor=${replication}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `share.coordinator.state.topic.replication.factor=${replication}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    'group.initial.rebalance.delay.ms=0',
    'log.retention.hours=24',
  ]
  if (quorum.length > 1) {
    lines.push(
      // A killed node is fenced (and dropped from every ISR, its leaderships moved) after the
      // session timeout: 9 s by default, 3 s here, so a local failover is seen within seconds.
      'broker.heartbeat.interval.ms=500',
      'broker.session.timeout.ms=3000',
    )
  }
  return `${lines.join('\n')}\n`
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
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

/** The cluster id a node's storage was formatted with, if it was. */
export function formattedClusterId(dir: string): string | undefined {
  const file = join(nodePaths(dir).data, 'meta.properties')
  if (!existsSync(file)) return undefined
  return /^cluster\.id=(.+)$/m.exec(readFileSync(file, 'utf8'))?.[1]?.trim()
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The recorded pid, if that process is still a Kafka broker (pids are reused). */
export function recordedPid(dir: string): number | undefined {
  const file = nodePaths(dir).pid
  if (!existsSync(file)) return undefined
  const pid = Number(readFileSync(file, 'utf8').trim())
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined
  const cmdline = `/proc/${pid}/cmdline`
  if (existsSync(cmdline) && !readFileSync(cmdline, 'utf8').includes('kafka.Kafka')) return undefined
  return pid
}

/** The cluster id and broker count a client sees through `listener`, or undefined when it does not answer. */
export async function reachable(
  listener: string,
): Promise<{ clusterId: string; brokers: number } | undefined> {
  try {
    return await probeCluster({ brokers: [listener], clientId: 'payrail-probe', timeoutMs: 1000 })
  } catch (error) {
    if (hasErrorCode(error, 'KAFKA_UNAVAILABLE')) return undefined
    throw error
  }
}

export function logTail(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no log)'
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
}

function jvmArgs(node: NodeLayout, heap: string): string[] {
  return [
    `-Xmx${heap}`,
    '-Xms128m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${nodePaths(node.dir).log4j}`,
  ]
}

/** Writes the node's config files and formats its storage with `clusterId` unless already formatted. */
export async function prepareNode(
  node: NodeLayout,
  quorum: NodeLayout[],
  libs: string,
  heap: string,
  clusterId: string,
): Promise<void> {
  const p = nodePaths(node.dir)
  mkdirSync(p.dir, { recursive: true })
  writeFileSync(p.config, serverProperties(node, quorum))
  writeFileSync(p.log4j, log4jProperties)
  if (existsSync(join(p.data, 'meta.properties'))) return
  const args = [...jvmArgs(node, heap), '-cp', join(libs, '*'), 'kafka.tools.StorageTool', 'format']
  const format = spawn('java', [...args, '-t', clusterId, '-c', p.config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  format.stdout.on('data', (chunk) => {
    output += chunk
  })
  format.stderr.on('data', (chunk) => {
    output += chunk
  })
  const [status] = (await once(format, 'close')) as [number | null]
  if (status !== 0) {
    throw new PayrailError(
      'KAFKA_BROKER_START_FAILED',
      `formatting KRaft storage of node ${node.nodeId} failed:\n${output}`,
    )
  }
}

/** Launches the node's JVM detached (it outlives the CLI) and records its pid. */
export function launchNode(node: NodeLayout, libs: string, heap: string): number {
  const p = nodePaths(node.dir)
  const log = openSync(p.log, 'a')
  const child = spawn('java', [...jvmArgs(node, heap), '-cp', join(libs, '*'), 'kafka.Kafka', p.config], {
    detached: true,
    stdio: ['ignore', log, log],
  })
  closeSync(log)
  const pid = child.pid
  if (pid === undefined) throw new PayrailError('KAFKA_BROKER_START_FAILED', 'java could not be started')
  child.unref()
  writeFileSync(p.pid, `${pid}\n`)
  return pid
}

/** Fails naming the log when the node's process is gone, so a start does not wait out its timeout. */
export function requireAlive(dir: string, pid: number): void {
  if (alive(pid)) return
  const p = nodePaths(dir)
  rmSync(p.pid, { force: true })
  throw new PayrailError(
    'KAFKA_BROKER_START_FAILED',
    `the broker exited during start-up; last lines of ${p.log}:\n${logTail(p.log)}`,
  )
}

/** Stops a node this checkout started: `signal`, then SIGKILL after the grace period. */
export async function stopNode(
  dir: string,
  say: (line: string) => void,
  graceMs = 30_000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<boolean> {
  const p = nodePaths(dir)
  const pid = recordedPid(dir)
  if (pid === undefined) {
    rmSync(p.pid, { force: true })
    return false
  }
  process.kill(pid, signal)
  const deadline = Date.now() + graceMs
  while (alive(pid) && Date.now() < deadline) await sleep(100)
  if (alive(pid)) {
    say(`broker pid ${pid} ignored ${signal} for ${graceMs} ms; killing it`)
    process.kill(pid, 'SIGKILL')
    while (alive(pid)) await sleep(50)
  }
  rmSync(p.pid, { force: true })
  say(`stopped Kafka broker (pid ${pid})`)
  return true
}
