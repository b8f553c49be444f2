import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ROOT } from '../../src/cli/context.ts'
import { bootstrapBrokers, createAdmin, probeCluster } from '../../src/kafka/connection.ts'
import { startBroker, stopBroker } from '../../src/kafka/local-broker/broker.ts'
import { ensureTopicsOn } from '../../src/kafka/topics.ts'
import { freePorts } from '../../support/processes.ts'

/** The cluster a benchmark runs against: KAFKA_BROKERS, else the local broker, started if none answers. */
export interface BenchCluster {
  brokers: string[]
  /** A new topic of `partitions` partitions, named after `prefix`. */
  topic: (prefix: string, partitions?: number) => Promise<string>
  deleteTopic: (name: string) => Promise<void>
  /** Stops the local broker if this benchmark started it. */
  close: () => Promise<void>
}

export async function benchCluster(say: (line: string) => void): Promise<BenchCluster> {
  const brokers = bootstrapBrokers({ KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '' })
  let started = false
  try {
    await probeCluster({ brokers, clientId: 'payrail-bench', timeoutMs: 1000 })
  } catch {
    started = (await startBroker({ root: ROOT, say })).started
  }
  const admin = () => createAdmin({ brokers, clientId: 'payrail-bench', retries: 3 })
  return {
    brokers,
    topic: async (prefix, partitions = 6) => {
      const name = `${prefix}-${randomBytes(4).toString('hex')}`
      const client = admin()
      try {
        await client.createTopics({ topics: [name], partitions, replicas: 1 })
      } finally {
        await client.close()
      }
      return name
    },
    deleteTopic: async (name) => {
      const client = admin()
      try {
        await client.deleteTopics({ topics: [name] })
      } finally {
        await client.close()
      }
    },
    close: async () => {
      if (started) await stopBroker({ root: ROOT, say })
    },
  }
}

/**
 * A broker of the benchmark's own on spare ports, its state under `dir`/kafka, with payrail's
 * topics: the platform's consumer groups then see only its events.
 */
export async function privateBenchBroker(
  dir: string,
  clientId: string,
): Promise<{ brokers: string; stop: () => Promise<void> }> {
  const [port, controllerPort] = (await freePorts(2)) as [number, number]
  const broker = { root: ROOT, stateDir: join(dir, 'kafka'), port, controllerPort, say: () => {} }
  await startBroker(broker)
  const stop = async () => {
    await stopBroker(broker, 10_000, 'SIGKILL')
  }
  try {
    const brokers = `127.0.0.1:${port}`
    await ensureTopicsOn({ brokers: [brokers], clientId })
    return { brokers, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
