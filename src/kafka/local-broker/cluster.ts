import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PayrailError } from '../../domain/errors.ts'
import { freePorts } from '../../runtime/ports.ts'
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

/**
 * A local KRaft cluster of several nodes, each its own JVM and data folder under
 * `<root>/.payrail/kafka-cluster/node-<id>`, all voters of one controller quorum. The layout
 * (ports, node count) is kept in `cluster.json` there, so stop, status and logs need no flags.
 */

export interface LocalClusterOptions {
  root: string
  /** Default: `<root>/.payrail/kafka-cluster`. */
  stateDir?: string
  /** Number of nodes. Default: 3. */
  nodes?: number
  /** Client port of node 1; node i listens on port + i - 1. Default: 9092. */
  port?: number
  /** Client ports one by one (tests pass free ports); overrides `port`. */
  ports?: number[]
  /** Controller ports one by one. Default: the client ports shifted by the node count (9095-9097). */
  controllerPorts?: number[]
  cacheDir?: string
  /** Longest wait for every node to be registered after launch. Default: 180000. */
  startTimeoutMs?: number
  /** Maximum JVM heap of each node. Default: `512m`. */
  heap?: string
  say: (line: string) => void
}

/**
 * Options for a three-node cluster of a test's or a tool's own, on spare ports: three JVMs beside
 * other work on a 2-core machine, where 256 MB each carries a few thousand records a second.
 */
export async function spareClusterOptions(
  root: string,
  stateDir: string,
  say: (line: string) => void,
): Promise<LocalClusterOptions> {
  const ports = await freePorts(6)
  return { root, stateDir, ports: ports.slice(0, 3), controllerPorts: ports.slice(3), heap: '256m', say }
}

export interface ClusterLayout {
  nodes: NodeLayout[]
}

export interface ClusterNodeStatus {
  nodeId: number
  listener: string
  pid?: number
  /** The number of brokers this node's metadata shows, when it answers. */
  brokersSeen?: number
  clusterId?: string
  logFile: string
}

export function clusterStateDir(options: Pick<LocalClusterOptions, 'root' | 'stateDir'>): string {
  return options.stateDir ?? join(options.root, '.payrail', 'kafka-cluster')
}

function layoutFile(dir: string): string {
  return join(dir, 'cluster.json')
}

/** The layout the last start recorded, if any. */
export function recordedLayout(
  options: Pick<LocalClusterOptions, 'root' | 'stateDir'>,
): ClusterLayout | undefined {
  const file = layoutFile(clusterStateDir(options))
  if (!existsSync(file)) return undefined
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterLayout
}

export function clusterLayout(options: LocalClusterOptions): ClusterLayout {
  const count = options.ports?.length ?? options.nodes ?? 3
  if (!Number.isInteger(count) || count < 2 || count > 9) {
    throw new PayrailError('USAGE', `a local cluster has 2 to 9 nodes (got ${count})`)
  }
  const base = options.port ?? 9092
  const ports = options.ports ?? Array.from({ length: count }, (_, i) => base + i)
  const controllerPorts = options.controllerPorts ?? ports.map((port) => port + count)
  if (controllerPorts.length !== count) {
    throw new PayrailError(
      'USAGE',
      `${count} nodes need ${count} controller ports (got ${controllerPorts.length})`,
    )
  }
  const all = [...ports, ...controllerPorts]
  if (
    all.some((port) => !Number.isInteger(port) || port < 1 || port > 65_535) ||
    new Set(all).size !== all.length
  ) {
    throw new PayrailError(
      'USAGE',
      `the cluster's ports must be distinct ports from 1 to 65535 (got ${all.join(', ')})`,
    )
  }
  const dir = clusterStateDir(options)
  return {
    nodes: ports.map((port, i) => ({
      nodeId: i + 1,
      dir: join(dir, `node-${i + 1}`),
      port,
      controllerPort: controllerPorts[i] as number,
    })),
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}

export async function clusterStatus(
  options: Pick<LocalClusterOptions, 'root' | 'stateDir'>,
): Promise<ClusterNodeStatus[]> {
  const layout = recordedLayout(options)
  if (layout === undefined) return []
  return Promise.all(
    layout.nodes.map(async (node) => {
      const pid = recordedPid(node.dir)
      const listener = `${host}:${node.port}`
      const seen = await reachable(listener)
      return {
        nodeId: node.nodeId,
        listener,
        ...(pid === undefined ? {} : { pid }),
        ...(seen === undefined ? {} : { brokersSeen: seen.brokers, clusterId: seen.clusterId }),
        logFile: nodePaths(node.dir).log,
      }
    }),
  )
}

/** The bootstrap list of a layout: every node's client listener. */
export function clusterBrokers(layout: ClusterLayout): string[] {
  return layout.nodes.map((node) => `${host}:${node.port}`)
}

/**
 * Starts every node and returns once each one's metadata shows all of them registered (an
 * unregistered or fenced broker is left out of metadata, so this is "the cluster is whole").
 * A cluster already running from this state folder is reused.
 */
export async function startCluster(
  options: LocalClusterOptions,
): Promise<{ started: boolean; layout: ClusterLayout; pids: number[] }> {
  const layout = clusterLayout(options)
  const recorded = recordedLayout(options)
  const dir = clusterStateDir(options)
  if (recorded !== undefined && recorded.nodes.length !== layout.nodes.length) {
    const formatted = recorded.nodes.some((node) => formattedClusterId(node.dir) !== undefined)
    if (formatted) {
      throw new PayrailError(
        'USAGE',
        `the cluster in ${dir} was formatted with ${recorded.nodes.length} nodes, not ${layout.nodes.length}; stop it and delete ${dir} to start over`,
      )
    }
  }
  const running = (recorded ?? layout).nodes.map((node) => recordedPid(node.dir))
  if (running.some((pid) => pid !== undefined)) {
    if (running.every((pid) => pid !== undefined)) {
      options.say(`the cluster in ${dir} is already running (pids ${running.join(', ')}); reusing it`)
      return { started: false, layout: recorded ?? layout, pids: running as number[] }
    }
    throw new PayrailError(
      'KAFKA_BROKER_START_FAILED',
      `only some nodes of the cluster in ${dir} are running; run \`payrail kafka stop\` first`,
    )
  }
  for (const port of layout.nodes.flatMap((node) => [node.port, node.controllerPort])) {
    // The single broker (or anything else) on one of our ports would make a node fail late and obscurely.
    if (!(await portFree(port))) {
      throw new PayrailError(
        'KAFKA_BROKER_START_FAILED',
        `port ${port} on ${host} is in use (the single broker on 9092?); stop that or pick other ports with --port`,
      )
    }
  }
  requireJava()
  const libs = ensureDistribution(options)
  const heap = options.heap ?? '512m'
  await mkdir(dir, { recursive: true })
  writeFileSync(layoutFile(dir), `${JSON.stringify(layout, null, 2)}\n`)
  const clusterId =
    layout.nodes.map((node) => formattedClusterId(node.dir)).find((id) => id !== undefined) ?? newClusterId()
  // Formatting is one short JVM per node; run side by side they take the time of one.
  await Promise.all(layout.nodes.map((node) => prepareNode(node, layout.nodes, libs, heap, clusterId)))
  const pids = layout.nodes.map((node) => launchNode(node, libs, heap))
  options.say(
    `started a ${layout.nodes.length}-node Kafka ${KAFKA_VERSION} cluster (pids ${pids.join(', ')}, logs in ${dir}); waiting for ${clusterBrokers(layout).join(',')}`,
  )

  const deadline = Date.now() + (options.startTimeoutMs ?? 180_000)
  const whole = new Set<number>()
  while (Date.now() < deadline) {
    layout.nodes.forEach((node, i) => {
      requireAlive(node.dir, pids[i] as number)
    })
    for (const node of layout.nodes) {
      if (whole.has(node.nodeId)) continue
      const seen = await reachable(`${host}:${node.port}`)
      if (seen !== undefined && seen.brokers === layout.nodes.length) whole.add(node.nodeId)
    }
    if (whole.size === layout.nodes.length) return { started: true, layout, pids }
    await sleep(250)
  }
  await stopCluster(options)
  throw new PayrailError(
    'KAFKA_BROKER_START_FAILED',
    `the cluster did not register all ${layout.nodes.length} nodes in time; see the logs in ${dir}`,
  )
}

/** Stops every node of the recorded cluster, all at once; returns how many were running. */
export async function stopCluster(
  options: Pick<LocalClusterOptions, 'root' | 'stateDir' | 'say'>,
  graceMs = 30_000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number> {
  const layout = recordedLayout(options)
  if (layout === undefined) return 0
  const stopped = await Promise.all(
    layout.nodes.map((node) => stopNode(node.dir, options.say, graceMs, signal)),
  )
  return stopped.filter(Boolean).length
}

/** Kills one node abruptly (SIGKILL), as a crash would; for failover tests and drills. */
export async function killNode(
  options: Pick<LocalClusterOptions, 'root' | 'stateDir' | 'say'>,
  nodeId: number,
): Promise<boolean> {
  const node = recordedLayout(options)?.nodes.find((n) => n.nodeId === nodeId)
  if (node === undefined) throw new PayrailError('NOT_FOUND', `the local cluster has no node ${nodeId}`)
  return stopNode(node.dir, options.say, 10_000, 'SIGKILL')
}

/**
 * Starts a stopped node of the recorded cluster again (after killNode), on its own data, and
 * returns its pid once its metadata shows every running node registered, itself included.
 */
export async function startNode(
  options: Pick<LocalClusterOptions, 'root' | 'stateDir' | 'say' | 'cacheDir' | 'heap' | 'startTimeoutMs'>,
  nodeId: number,
): Promise<number> {
  const layout = recordedLayout(options)
  const node = layout?.nodes.find((n) => n.nodeId === nodeId)
  if (layout === undefined || node === undefined)
    throw new PayrailError('NOT_FOUND', `the local cluster has no node ${nodeId}`)
  if (recordedPid(node.dir) !== undefined)
    throw new PayrailError('USAGE', `node ${nodeId} of the local cluster is already running`)
  const libs = ensureDistribution(options)
  const pid = launchNode(node, libs, options.heap ?? '512m')
  options.say(`started node ${nodeId} again (pid ${pid})`)
  const deadline = Date.now() + (options.startTimeoutMs ?? 180_000)
  while (Date.now() < deadline) {
    requireAlive(node.dir, pid)
    const running = layout.nodes.filter((n) => recordedPid(n.dir) !== undefined).length
    const seen = await reachable(`${host}:${node.port}`)
    if (seen !== undefined && seen.brokers >= running) return pid
    await sleep(250)
  }
  throw new PayrailError(
    'KAFKA_BROKER_START_FAILED',
    `node ${nodeId} did not rejoin the cluster in time; see ${nodePaths(node.dir).log}`,
  )
}
