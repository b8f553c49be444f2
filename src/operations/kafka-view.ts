/**
 * GET /api/admin/kafka: the workers' consumer groups with their lag per partition (from the
 * broker), what the workers report about their handlers (from their metrics), the records in
 * payment.dlq, and the acquirer's breakers (this api's and the workers').
 */
import { consumerGroupLag, type GroupLag } from '../kafka/consumer-lag.ts'
import { TOPICS, TOPICS_OF, WORKER_HANDLERS } from '../kafka/topics.ts'
import { samplesOf, sumBy } from '../observability/exposition.ts'
import type { BreakerState } from '../runtime/breaker.ts'
import type { RoleSampler } from './role-sampler.ts'
import { SharedCache } from './shared-cache.ts'

export interface KafkaView {
  groups: (GroupLag & { handler: string })[]
  error: string | null
  handlers: {
    handler: string
    inFlight: number
    queued: number
    outcomes: Record<string, number>
    deadLetters: number
  }[]
  workerUp: boolean
  dlqRecords: number | null
  acquirerBreakers: Record<string, string>
}

export interface KafkaViewOptions {
  brokers: string[]
  /** The workers' KAFKA_CLIENT_ID: their groups are `<clientId>-<handler>`. */
  clientId: string
  sampler: RoleSampler
  /** This api's acquirer breakers. */
  breakers: () => Record<string, BreakerState>
  /** Kafka's answer is kept this long. Default: 1000 (OPS_SCRAPE_MIN_INTERVAL_MS). */
  cacheMs?: number
  /** The lag read's limit. Default: 3000. */
  timeoutMs?: number
}

const BREAKER_STATES = ['closed', 'half-open', 'open']

export class KafkaOverview {
  readonly #options: KafkaViewOptions
  readonly #lag: SharedCache<{ groups: KafkaView['groups']; dlqRecords: number }>

  constructor(options: KafkaViewOptions) {
    this.#options = options
    this.#lag = new SharedCache(async () => {
      const { groups, ends } = await consumerGroupLag({
        brokers: options.brokers,
        clientId: `${options.clientId}-ops`,
        groups: WORKER_HANDLERS.map((handler) => ({
          groupId: `${options.clientId}-${handler}`,
          topics: TOPICS_OF[handler],
        })),
        alsoEnds: [TOPICS.dlq.name],
        timeoutMs: options.timeoutMs ?? 3000,
      })
      return {
        groups: groups.map((group, i) => ({ ...group, handler: WORKER_HANDLERS[i] as string })),
        // Offsets count every record ever written there: payment.dlq is never compacted, and
        // its retention (KAFKA_TOPIC_RETENTION) outlasts what an operator looks at.
        dlqRecords: (ends.get(TOPICS.dlq.name) ?? []).reduce((sum, end) => sum + end, 0),
      }
    }, options.cacheMs ?? 1000)
  }

  async view(): Promise<KafkaView> {
    const [lag, { current }] = await Promise.all([
      this.#lag.get().then(
        (value) => ({ ...value, error: null }),
        (error: unknown) => ({ groups: [], dlqRecords: null, error: (error as Error).message }),
      ),
      this.#options.sampler.latest(),
    ])
    const workers = current.roles.filter((role) => role.role === 'worker' && role.samples !== undefined)
    const samples = workers.flatMap((worker) => worker.samples ?? [])
    const inFlight = sumBy(samples, 'payrail_worker_in_flight', 'handler')
    const queued = sumBy(samples, 'payrail_worker_queued', 'handler')
    const deadLetters = sumBy(samples, 'payrail_worker_dead_letters_total', 'handler')
    const handlers = WORKER_HANDLERS.filter(
      (handler) =>
        samplesOf(samples, 'payrail_worker_processed_total').some((s) => s.labels.handler === handler) ||
        handler in inFlight,
    ).map((handler) => {
      const outcomes: Record<string, number> = {}
      for (const s of samplesOf(samples, 'payrail_worker_processed_total', { handler }))
        outcomes[s.labels.outcome ?? ''] = (outcomes[s.labels.outcome ?? ''] ?? 0) + s.value
      return {
        handler,
        inFlight: inFlight[handler] ?? 0,
        queued: queued[handler] ?? 0,
        outcomes,
        deadLetters: deadLetters[handler] ?? 0,
      }
    })
    const acquirerBreakers: Record<string, string> = { ...this.#options.breakers() }
    for (const s of samplesOf(samples, 'payrail_acquirer_breaker_state')) {
      const state = BREAKER_STATES[s.value] ?? String(s.value)
      const operation = s.labels.operation ?? ''
      // Several workers: the worst state shows.
      const known = BREAKER_STATES.indexOf(acquirerBreakers[operation] ?? 'closed')
      if (!(operation in acquirerBreakers) || s.value > known) acquirerBreakers[operation] = state
    }
    return {
      groups: lag.groups,
      error: lag.error,
      handlers,
      workerUp: workers.length > 0,
      dlqRecords: lag.dlqRecords,
      acquirerBreakers,
    }
  }
}
