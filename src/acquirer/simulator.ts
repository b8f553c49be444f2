import { timingSafeEqual } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Counter, type Registry } from 'prom-client'
import type { Range } from '../config/variables.ts'
import { registerOperationalRoutes } from '../observability/health.ts'
import type { Logger } from '../observability/logger.ts'
import { createRoleServer } from '../observability/server.ts'
import { type JournalEntry, type OpenJournal, openAcquirerJournal } from './journal.ts'
import {
  ACQUIRER_MODES,
  ACQUIRER_PATHS,
  type AcquirerMode,
  type AuthorizationResult,
  type AuthorizeRequest,
  DECLINING_CENTS,
  REJECTED_BEFORE_PROCESSING,
  type ReferenceLedger,
  type RefundRequest,
  type RefundResult,
  type SettlementResult,
  type SettleRequest,
  type VoidRequest,
  type VoidResult,
} from './protocol.ts'

export interface AcquirerSimulatorOptions {
  /** Authorize latency, drawn uniformly per call. Default: 50–150 ms (the seed's PG). */
  authLatencyMs?: Range
  /** Settle and refund latency. Default: 1000–3000 ms. */
  settleLatencyMs?: Range
  /** Share of authorize calls refused with a processor error (503 `processed: false`, nothing done). Default: 0.005. */
  authFailureRate?: number
  /** Share of settle and refund calls that fail with a processor error. Default: 0.05. */
  settleFailureRate?: number
  /** Extra latency in `slow` mode. Default: 5000 ms. */
  slowExtraMs?: number
  /** Results (and ledger entries) remembered per operation for repeated references; the oldest go first. Default: 1,000,000. */
  memory?: number
  /** Token for `/admin/*`; when unset the admin switches answer 401 (ACQUIRER_ADMIN_TOKEN). */
  adminToken?: string | undefined
  /**
   * File every carried-out operation is appended to before its answer, replayed into the memory
   * and the ledger at build time (ACQUIRER_JOURNAL_FILE). Default: unset, memory only.
   */
  journalFile?: string | undefined
  /** Source of randomness, for deterministic tests. Default: Math.random. */
  random?: () => number
  /** Clock of the journal's `time`, in epoch milliseconds. Default: Date.now. */
  now?: () => number
  logger: Logger
  registry: Registry
}

type Operation = 'authorize' | 'settle' | 'refund'

/** Remembers the first answer per reference, including one still being computed. */
class ResultMemory<T> {
  readonly #entries = new Map<string, Promise<T>>()
  readonly #capacity: number
  constructor(capacity: number) {
    this.#capacity = capacity
  }
  get(reference: string): Promise<T> | undefined {
    return this.#entries.get(reference)
  }
  /** Remembers a result decided by an earlier process (read back from the journal). */
  remember(reference: string, result: T): void {
    this.#entries.delete(reference)
    this.#entries.set(reference, Promise.resolve(result))
    bounded(this.#entries, this.#capacity)
  }
  /** Runs `act` once per reference; a failed run is forgotten, since a failure means nothing was done. */
  once(reference: string, act: () => Promise<T>): Promise<T> {
    const existing = this.#entries.get(reference)
    if (existing !== undefined) return existing
    const result = act()
    this.#entries.set(reference, result)
    result.catch(() => this.#entries.delete(reference))
    bounded(this.#entries, this.#capacity)
    return result
  }
}

class ProcessorError extends Error {}

const operationBody = {
  type: 'object',
  required: ['reference', 'amount', 'currency'],
  additionalProperties: false,
  properties: {
    reference: { type: 'string', minLength: 1, maxLength: 64 },
    amount: { type: 'integer', minimum: 1 },
    currency: { type: 'string', pattern: '^[A-Z]{3}$' },
  },
} as const

function tokenMatches(expected: string, header: string | undefined): boolean {
  const given = Buffer.from(header?.replace(/^Bearer /, '') ?? '')
  const wanted = Buffer.from(expected)
  return given.length === wanted.length && timingSafeEqual(given, wanted)
}

/** Entries kept per reference, the oldest dropped first past `capacity`. */
function bounded<K>(map: Map<K, unknown> | Set<K>, capacity: number): void {
  if (map.size <= capacity) return
  const oldest = map.keys().next().value
  if (oldest !== undefined) map.delete(oldest)
}

// One way from a decided outcome to its answer, for a live call and for a journal replay alike.
const authorizationResult = (reference: string, approved: boolean): AuthorizationResult => ({
  reference,
  approved,
  authorizationCode: approved ? reference.replaceAll('-', '').slice(-6).toUpperCase() : null,
  declineReason: approved ? null : 'insufficient_funds',
})
const settlementResult = (reference: string, settled: boolean): SettlementResult => ({
  reference,
  settled,
  failureReason: settled ? null : 'card_closed',
})
const refundResult = (reference: string, refunded: boolean): RefundResult => ({
  reference,
  refunded,
  failureReason: refunded ? null : 'refund_rejected',
})

/** The card-processor simulator: a real HTTP service that payrail calls like an acquirer. */
export function buildAcquirerSimulator(options: AcquirerSimulatorOptions): FastifyInstance {
  const random = options.random ?? Math.random
  const authLatency = options.authLatencyMs ?? { min: 50, max: 150 }
  const settleLatency = options.settleLatencyMs ?? { min: 1000, max: 3000 }
  const authFailureRate = options.authFailureRate ?? 0.005
  const settleFailureRate = options.settleFailureRate ?? 0.05
  let slowExtraMs = options.slowExtraMs ?? 5000
  const memory = options.memory ?? 1_000_000
  const now = options.now ?? Date.now
  let mode: AcquirerMode = 'normal'

  const authorizations = new ResultMemory<AuthorizationResult>(memory)
  const settlements = new ResultMemory<SettlementResult>(memory)
  const refunds = new ResultMemory<RefundResult>(memory)
  // References voided once: a repeated void answers the same but is not carried out (journaled) again.
  const voids = new Set<string>()
  // What was done per reference, so that tests against this process can count authorizations,
  // settles and refunds per idempotency key (DELETE starts the count afresh; results are kept).
  const ledger = new Map<string, ReferenceLedger>()
  const count = (reference: string, change: (entry: ReferenceLedger) => Partial<ReferenceLedger>) => {
    const entry = ledger.get(reference) ?? {
      authorized: 0,
      approved: false,
      voided: false,
      settled: 0,
      refunded: 0,
    }
    ledger.set(reference, { ...entry, ...change(entry) })
    bounded(ledger, memory)
  }
  /** Counts an operation carried out, live or replayed. */
  const counted = (entry: JournalEntry) => {
    const { reference } = entry
    if (entry.operation === 'authorize')
      count(reference, (e) => ({ authorized: e.authorized + 1, approved: entry.outcome === 'approved' }))
    else if (entry.operation === 'void') {
      voids.add(reference)
      bounded(voids, memory)
      count(reference, () => ({ approved: true, voided: true }))
    } else if (entry.operation === 'settle') count(reference, (e) => ({ settled: e.settled + 1 }))
    else count(reference, (e) => ({ refunded: e.refunded + 1 }))
  }

  const journal: OpenJournal | undefined =
    options.journalFile === undefined ? undefined : openAcquirerJournal(options.journalFile, options.logger)
  for (const entry of journal?.entries ?? []) {
    counted(entry)
    const { reference } = entry
    if (entry.operation === 'authorize')
      authorizations.remember(reference, authorizationResult(reference, entry.outcome === 'approved'))
    else if (entry.operation === 'settle')
      settlements.remember(reference, settlementResult(reference, entry.outcome === 'settled'))
    else if (entry.operation === 'refund')
      refunds.remember(reference, refundResult(reference, entry.outcome === 'refunded'))
  }
  /**
   * Journals (when configured) and counts an operation just decided. An append that fails leaves
   * the operation undone, so it answers as a processor error: nothing was carried out.
   */
  const carriedOut = (entry: Omit<JournalEntry, 'time'>) => {
    const line = { ...entry, time: new Date(now()).toISOString() } as JournalEntry
    try {
      journal?.append(line)
    } catch (error) {
      options.logger.error({ err: error, reference: entry.reference }, 'acquirer journal append failed')
      throw new ProcessorError(`${entry.operation}: journal write failed`)
    }
    counted(line)
  }
  const calls = new Counter({
    name: 'payrail_acquirer_simulator_calls_total',
    help: 'Calls to the simulator by operation and outcome (ok, declined_before_processing, down, lost)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [options.registry],
  })

  const app = createRoleServer({ logger: options.logger })
  if (journal !== undefined) app.addHook('onClose', async () => journal.close())
  registerOperationalRoutes(app, { registry: options.registry, checks: [] })

  async function simulate<T>(
    operation: Operation,
    latency: Range,
    failureRate: number,
    decide: () => T,
  ): Promise<T> {
    const wait = latency.min + random() * (latency.max - latency.min) + (mode === 'slow' ? slowExtraMs : 0)
    if (wait > 0) await sleep(wait)
    if (mode === 'failing' || random() < failureRate)
      throw new ProcessorError(`${operation}: processor error`)
    return decide()
  }

  const rejectBeforeProcessing = (reply: FastifyReply, error: string, message: string) =>
    reply
      .code(REJECTED_BEFORE_PROCESSING)
      .header('retry-after', '1')
      .send({ processed: false, error, message })

  /**
   * Answers `run()`'s result the way the current mode wants: `down` and processor errors are the
   * defined "nothing done" rejection; the ambiguous modes carry the operation out and then lose
   * its answer (a bare 500, a reset connection, or a body that breaks the schema).
   */
  async function answer<T extends { reference: string }>(
    operation: Operation | 'void' | 'lookup',
    request: FastifyRequest,
    reply: FastifyReply,
    run: () => Promise<T>,
  ): Promise<T | undefined> {
    if (mode === 'down' && operation !== 'lookup') {
      calls.inc({ operation, outcome: 'down' })
      await rejectBeforeProcessing(reply, 'unavailable', 'the processor is down')
      return undefined
    }
    let result: T
    try {
      result = await run()
    } catch (error) {
      if (!(error instanceof ProcessorError)) throw error
      calls.inc({ operation, outcome: 'declined_before_processing' })
      await rejectBeforeProcessing(reply, 'processor_error', error.message)
      return undefined
    }
    if (mode === 'error-after-processing' && operation !== 'lookup') {
      calls.inc({ operation, outcome: 'lost' })
      await reply.code(500).send({ error: 'internal' })
      return undefined
    }
    if (mode === 'reset-after-processing' && operation !== 'lookup') {
      calls.inc({ operation, outcome: 'lost' })
      reply.hijack()
      request.raw.socket.resetAndDestroy()
      return undefined
    }
    calls.inc({ operation, outcome: 'ok' })
    if (mode === 'malformed') {
      // What a careless processor sends: every boolean as a string ("approved": "false").
      const broken = Object.fromEntries(
        Object.entries(result).map(([k, v]) => [k, typeof v === 'boolean' ? String(v) : v]),
      )
      await reply.code(200).send(broken)
      return undefined
    }
    return result
  }

  const declines = (amount: number, cents: number) => amount % 100 === cents

  app.post<{ Body: AuthorizeRequest }>(
    ACQUIRER_PATHS.authorize,
    { schema: { body: operationBody } },
    (request, reply) =>
      answer('authorize', request, reply, () =>
        authorizations.once(request.body.reference, () =>
          simulate('authorize', authLatency, authFailureRate, () => {
            const { reference, amount } = request.body
            const approved = !declines(amount, DECLINING_CENTS.authorize)
            carriedOut({
              reference,
              operation: 'authorize',
              outcome: approved ? 'approved' : 'declined',
              amount,
            })
            return authorizationResult(reference, approved)
          }),
        ),
      ),
  )

  /** The authorization under `reference` (waiting for one in progress); undefined when none was made. */
  async function authorizationOf(reference: string): Promise<AuthorizationResult | undefined> {
    try {
      return await authorizations.get(reference)
    } catch {
      // The first attempt failed before processing, so nothing was authorized under this reference.
      return undefined
    }
  }

  app.get<{ Params: { reference: string } }>('/v1/authorizations/:reference', async (request, reply) => {
    const known = await authorizationOf(request.params.reference)
    if (known === undefined) return reply.code(404).send({ error: 'not_found' })
    return answer('lookup', request, reply, async () => known)
  })

  // A void releases the hold of an approval; it waits for an authorization in progress and is
  // remembered in the ledger only, so a repeat answers the same and an unknown reference stays open.
  app.post<{ Body: VoidRequest }>(
    ACQUIRER_PATHS.void,
    {
      schema: {
        body: {
          type: 'object',
          required: ['reference'],
          additionalProperties: false,
          properties: { reference: operationBody.properties.reference },
        },
      },
    },
    (request, reply) =>
      answer('void', request, reply, async (): Promise<VoidResult> => {
        await simulate('authorize', authLatency, 0, () => undefined)
        const { reference } = request.body
        const held = await authorizationOf(reference)
        const voided = held?.approved === true
        if (voided && !voids.has(reference))
          carriedOut({ reference, operation: 'void', outcome: 'voided', amount: null })
        else if (voided) count(reference, () => ({ approved: true, voided: true }))
        return { reference, voided }
      }),
  )

  // Settle and refund share their latency and error rate; only the decline and its wording differ.
  const settling = <T extends { reference: string }>(
    operation: 'settle' | 'refund',
    path: string,
    memory: ResultMemory<T>,
    decide: (request: SettleRequest | RefundRequest) => T,
  ) =>
    app.post<{ Body: SettleRequest | RefundRequest }>(
      path,
      { schema: { body: operationBody } },
      (request, reply) =>
        answer(operation, request, reply, () =>
          memory.once(request.body.reference, () =>
            simulate(operation, settleLatency, settleFailureRate, () => decide(request.body)),
          ),
        ),
    )
  settling('settle', ACQUIRER_PATHS.settle, settlements, ({ reference, amount }) => {
    const settled = !declines(amount, DECLINING_CENTS.settle)
    carriedOut({ reference, operation: 'settle', outcome: settled ? 'settled' : 'failed', amount })
    return settlementResult(reference, settled)
  })
  settling('refund', ACQUIRER_PATHS.refund, refunds, ({ reference, amount }) => {
    const refunded = !declines(amount, DECLINING_CENTS.refund)
    carriedOut({ reference, operation: 'refund', outcome: refunded ? 'refunded' : 'failed', amount })
    return refundResult(reference, refunded)
  })

  const guardAdmin = async (request: FastifyRequest, reply: FastifyReply) => {
    // Whoever reaches an open switch could make every payment fail: without a token it stays shut.
    if (
      options.adminToken === undefined ||
      !tokenMatches(options.adminToken, request.headers.authorization)
    ) {
      await reply.code(401).send({ error: 'unauthorized' })
    }
  }
  app.get(ACQUIRER_PATHS.ledger, { preHandler: guardAdmin }, async () => Object.fromEntries(ledger))
  app.delete(ACQUIRER_PATHS.ledger, { preHandler: guardAdmin }, async () => {
    ledger.clear()
    return {}
  })
  app.get(ACQUIRER_PATHS.mode, { preHandler: guardAdmin }, async () => ({ mode, slowExtraMs }))
  app.put<{ Body: { mode: AcquirerMode; slowExtraMs?: number } }>(
    ACQUIRER_PATHS.mode,
    {
      preHandler: guardAdmin,
      schema: {
        body: {
          type: 'object',
          required: ['mode'],
          additionalProperties: false,
          properties: {
            mode: { enum: [...ACQUIRER_MODES] },
            slowExtraMs: { type: 'integer', minimum: 0, maximum: 600_000 },
          },
        },
      },
    },
    async (request) => {
      mode = request.body.mode
      if (request.body.slowExtraMs !== undefined) slowExtraMs = request.body.slowExtraMs
      options.logger.warn({ mode, slowExtraMs }, 'acquirer simulator mode changed')
      return { mode, slowExtraMs }
    },
  )
  return app
}
