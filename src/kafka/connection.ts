import { Admin } from '@platformatic/kafka'
import type { Config } from '../config/load.ts'
import { PayrailError } from '../domain/errors.ts'

/** The listener of the broker that `payrail kafka start` runs. */
export const LOCAL_BROKER = '127.0.0.1:9092'

/** The cluster to talk to: `KAFKA_BROKERS`, or the local broker when it is empty. */
export function bootstrapBrokers(config: Pick<Config, 'KAFKA_BROKERS'>): string[] {
  return config.KAFKA_BROKERS === '' ? [LOCAL_BROKER] : config.KAFKA_BROKERS.split(',')
}

export interface AdminClientOptions {
  brokers: string[]
  clientId: string
  /** Per-request timeout. Default: 2000. */
  timeoutMs?: number
  /** Connection attempts before a call fails. Default: 0, so that a probe answers quickly. */
  retries?: number
}

export function createAdmin(options: AdminClientOptions): Admin {
  return new Admin({
    clientId: options.clientId,
    bootstrapBrokers: options.brokers,
    timeout: options.timeoutMs ?? 2000,
    connectTimeout: options.timeoutMs ?? 2000,
    retries: options.retries ?? 0,
  })
}

/**
 * Succeeds once a client can fetch cluster metadata: the broker accepts connections and its
 * controller has elected itself. Throws KAFKA_UNAVAILABLE otherwise.
 */
export async function probeCluster(
  options: AdminClientOptions,
): Promise<{ clusterId: string; brokers: number }> {
  const admin = createAdmin(options)
  try {
    const metadata = await admin.metadata({ topics: [] })
    return { clusterId: metadata.id, brokers: metadata.brokers.size }
  } catch (error) {
    throw new PayrailError(
      'KAFKA_UNAVAILABLE',
      `Kafka at ${options.brokers.join(',')} did not answer: ${describe(error)}`,
      {
        cause: error,
      },
    )
  } finally {
    await admin.close()
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0])
  if (error instanceof Error) {
    const nested = (error as { errors?: unknown[] }).errors
    if (Array.isArray(nested) && nested.length > 0) return `${error.message} (${describe(nested[0])})`
    return error.message
  }
  return String(error)
}
