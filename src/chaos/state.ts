/**
 * The state services a chaos scenario owns, so that it may fault them: its own Kafka broker
 * (or three-node cluster) on spare ports, its own database (a SQLite file, or a private MariaDB
 * or PostgreSQL server), and, where asked, its own Redis. The machine's shared servers are never
 * touched; everything lives in one temporary folder that `close()` deletes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DialectName } from '../db/database.ts'
import { createAdmin } from '../kafka/connection.ts'
import { startBroker, stopBroker } from '../kafka/local-broker/broker.ts'
import {
  clusterBrokers,
  killNode,
  spareClusterOptions,
  startCluster,
  startNode,
  stopCluster,
} from '../kafka/local-broker/cluster.ts'
import { freePorts } from '../runtime/ports.ts'
import { startPrivateDatabase } from './private-database.ts'
import { startPrivateRedis } from './private-redis.ts'

/** A Kafka node the scenario may stop (SIGKILL, as a crash) and start again on its ports and data. */
export interface KafkaControl {
  brokers: string[]
  nodeIds: number[]
  kill(nodeId: number): Promise<void>
  start(nodeId: number): Promise<void>
  /** The leader node of each partition of `topic`, by partition, as the cluster says now. */
  leadersOf(topic: string): Promise<number[]>
  close(): Promise<void>
}

async function leadersOf(brokers: string[], topic: string): Promise<number[]> {
  const admin = createAdmin({ brokers, clientId: 'payrail-chaos', retries: 2 })
  try {
    const metadata = await admin.metadata({ topics: [topic], forceUpdate: true })
    return (metadata.topics.get(topic)?.partitions ?? []).map((p) => p.leader)
  } finally {
    await admin.close()
  }
}

/** A server (database, Redis) the scenario may kill and start again. */
export interface ServerControl {
  kill(): Promise<void>
  start(): Promise<void>
}

export interface ChaosState {
  dir: string
  dialect: DialectName
  databaseUrl: string
  kafka: KafkaControl
  /** Undefined for SQLite: a file has no server to kill. */
  database: ServerControl | undefined
  redisUrl: string | undefined
  redis: ServerControl | undefined
  /** The acquirer simulator's journal (ACQUIRER_JOURNAL_FILE): what it carried out, across its kills. */
  acquirerJournal: string
  /** Stops every server; deletes the folder unless `keepDir`. */
  close(options?: { keepDir?: boolean }): Promise<void>
}

export interface ChaosStateOptions {
  root: string
  dialect: DialectName
  kafkaNodes: 1 | 3
  redis: boolean
  say: (line: string) => void
}

/** A single broker of the scenario's own: startBroker/stopBroker on a state folder and ports of its own. */
async function singleBroker(root: string, dir: string, say: (line: string) => void): Promise<KafkaControl> {
  const [port, controllerPort] = (await freePorts(2)) as [number, number]
  // Small heap: a broker beside the platform and its load on a 2-core machine.
  const broker = { root, stateDir: join(dir, 'kafka'), port, controllerPort, heap: '384m', say }
  await startBroker(broker)
  return {
    brokers: [`127.0.0.1:${port}`],
    nodeIds: [1],
    kill: async () => {
      await stopBroker(broker, 10_000, 'SIGKILL')
    },
    leadersOf: (topic) => leadersOf([`127.0.0.1:${port}`], topic),
    start: async () => {
      await startBroker(broker)
    },
    close: async () => {
      await stopBroker(broker, 5000, 'SIGKILL')
    },
  }
}

/** Three nodes of the scenario's own; a killed node starts again on its data and ports. */
async function threeNodes(root: string, dir: string, say: (line: string) => void): Promise<KafkaControl> {
  const options = await spareClusterOptions(root, join(dir, 'kafka-cluster'), say)
  const { layout } = await startCluster(options)
  return {
    brokers: clusterBrokers(layout),
    nodeIds: layout.nodes.map((node) => node.nodeId),
    kill: async (nodeId) => {
      await killNode(options, nodeId)
    },
    start: async (nodeId) => {
      await startNode(options, nodeId)
    },
    leadersOf: (topic) => leadersOf(clusterBrokers(layout), topic),
    close: async () => {
      await stopCluster(options, 5000, 'SIGKILL')
    },
  }
}

export async function startChaosState(options: ChaosStateOptions): Promise<ChaosState> {
  const dir = mkdtempSync(join(tmpdir(), 'payrail-chaos-'))
  const closers: (() => Promise<unknown>)[] = []
  const close = async (how: { keepDir?: boolean } = {}) => {
    for (const closer of closers.reverse())
      await closer().catch((error: Error) => options.say(`cleaning up: ${error.message}`))
    if (how.keepDir !== true) rmSync(dir, { recursive: true, force: true })
  }
  try {
    const kafka = await (options.kafkaNodes === 3 ? threeNodes : singleBroker)(options.root, dir, options.say)
    closers.push(() => kafka.close())
    let databaseUrl = `sqlite://${join(dir, 'chaos.db')}`
    let database: ServerControl | undefined
    if (options.dialect !== 'sqlite') {
      const server = await startPrivateDatabase(options.dialect, { say: options.say })
      closers.push(() => server.close())
      databaseUrl = server.url
      database = server
    }
    let redis: ServerControl | undefined
    let redisUrl: string | undefined
    if (options.redis) {
      const server = await startPrivateRedis({ say: options.say })
      closers.push(() => server.close())
      redis = server
      redisUrl = server.url
    }
    return {
      dir,
      dialect: options.dialect,
      databaseUrl,
      kafka,
      database,
      redisUrl,
      redis,
      acquirerJournal: join(dir, 'acquirer.journal'),
      close,
    }
  } catch (error) {
    await close()
    throw error
  }
}
