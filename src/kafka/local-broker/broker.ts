import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PayrailError } from '../../domain/errors.ts'
import { LOCAL_BROKER } from '../connection.ts'
import { ensureDistribution, KAFKA_VERSION, requireJava } from './distribution.ts'
import {
  formattedClusterId,
  host,
  launchNode,
  type NodeLayout,
  newClusterId,
  nodePaths,
  prepareNode,
  reachable,
  recordedPid,
  requireAlive,
  stopNode,
} from './node.ts'

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

function stateDirOf(options: Pick<LocalBrokerOptions, 'root' | 'stateDir'>): string {
  return options.stateDir ?? join(options.root, '.payrail', 'kafka')
}

function listenerOf(options: Pick<LocalBrokerOptions, 'port'>): string {
  return options.port === undefined ? LOCAL_BROKER : `${host}:${options.port}`
}

export async function brokerStatus(
  options: Pick<LocalBrokerOptions, 'root' | 'stateDir' | 'port'>,
): Promise<BrokerStatus> {
  const pid = recordedPid(stateDirOf(options))
  const clusterId = (await reachable(listenerOf(options)))?.clusterId
  return {
    running: pid !== undefined,
    ...(pid === undefined ? {} : { pid }),
    reachable: clusterId !== undefined,
    ...(clusterId === undefined ? {} : { clusterId }),
    version: KAFKA_VERSION,
    logFile: nodePaths(stateDirOf(options)).log,
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
  const port = options.port ?? 9092
  const node: NodeLayout = {
    nodeId: 1,
    dir: stateDirOf(options),
    port,
    controllerPort: options.controllerPort ?? port + 1,
  }
  const heap = options.heap ?? '512m'
  await prepareNode(node, [node], libs, heap, formattedClusterId(node.dir) ?? newClusterId())
  const pid = launchNode(node, libs, heap)
  const log = nodePaths(node.dir).log
  options.say(`started Kafka ${KAFKA_VERSION} (pid ${pid}, log ${log}); waiting for ${listenerOf(options)}`)

  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000)
  while (Date.now() < deadline) {
    requireAlive(node.dir, pid)
    if ((await reachable(listenerOf(options))) !== undefined) return { started: true, pid }
    await sleep(250)
  }
  await stopBroker(options)
  throw new PayrailError('KAFKA_BROKER_START_FAILED', `the broker did not serve metadata in time; see ${log}`)
}

/** Stops the broker this checkout started: SIGTERM (a clean shutdown), then SIGKILL after the grace period. */
export async function stopBroker(
  options: Pick<LocalBrokerOptions, 'root' | 'stateDir' | 'say'>,
  graceMs = 30_000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<boolean> {
  return stopNode(stateDirOf(options), options.say, graceMs, signal)
}

export function brokerLogFile(root: string): string {
  return nodePaths(stateDirOf({ root })).log
}
