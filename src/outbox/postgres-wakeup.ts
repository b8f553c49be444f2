import pg from 'pg'
import { OUTBOX_CHANNEL } from '../db/migrations/004-postgres-outbox-notify.ts'
import type { Logger } from '../observability/logger.ts'

export interface PostgresWakeupOptions {
  /** The PostgreSQL DATABASE_URL whose outbox the relay publishes. */
  url: string
  /** Called for each notification: new outbox rows have committed. */
  onWake: () => void
  logger: Logger
  /** Wait before reconnecting a lost listener. Default: 1000 ms. */
  reconnectDelayMs?: number
}

/**
 * Listens on PostgreSQL's outbox channel with a dedicated connection (LISTEN needs one that
 * stays open; a pooled one would be handed to other queries). A lost connection is reopened;
 * while it is down the relay still polls on its interval, so nothing depends on a notification.
 */
export class PostgresWakeup {
  readonly #options: Required<PostgresWakeupOptions>
  #client: pg.Client | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(options: PostgresWakeupOptions) {
    this.#options = { reconnectDelayMs: 1000, ...options }
  }

  /** Resolves once listening, or after the first failure (it then keeps retrying in the background). */
  async start(): Promise<void> {
    await this.#connect()
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return
    const client = new pg.Client({ connectionString: this.#options.url })
    this.#client = client
    client.on('notification', () => this.#options.onWake())
    client.on('error', (error) => {
      this.#options.logger.warn({ err: error }, 'outbox LISTEN connection failed; reconnecting')
      this.#retry(client)
    })
    client.on('end', () => this.#retry(client))
    try {
      await client.connect()
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`)
    } catch (error) {
      this.#options.logger.warn(
        { err: error },
        'could not LISTEN for new outbox rows; polling only until it can',
      )
      this.#retry(client)
    }
  }

  #retry(client: pg.Client): void {
    if (this.#stopped || this.#client !== client || this.#timer !== undefined) return
    this.#client = undefined
    client.end().catch((error: unknown) => {
      this.#options.logger.debug({ err: error }, 'closing the broken LISTEN connection failed')
    })
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#connect()
    }, this.#options.reconnectDelayMs)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    const client = this.#client
    this.#client = undefined
    await client?.end()
  }
}
