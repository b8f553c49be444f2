import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import { listMerchants } from '../../db/merchants.ts'
import type { Database } from '../../db/schema.ts'
import { checkLedger } from '../../ledger/check.ts'
import { lastLedgerCheck, ledgerTotals, recordLedgerCheck } from '../../ledger/check-store.ts'
import { gatewayView } from '../../operations/gateway-view.ts'
import type { KafkaOverview } from '../../operations/kafka-view.ts'
import type { LoadRuns } from '../../operations/load-runs.ts'
import { outboxView } from '../../operations/outbox-view.ts'
import { overview } from '../../operations/overview.ts'
import type { RoleSampler } from '../../operations/role-sampler.ts'
import { SharedCache } from '../../operations/shared-cache.ts'
import { type DeadLetterTopicOptions, pageConsumerDeadLetters } from '../../outbox/consumer-dead-letters.ts'
import { countDead, listDead } from '../../outbox/status.ts'
import { guardAndAudit } from '../admin-audit.ts'
import { ProblemSchema } from '../schemas.ts'
import {
  DlqPage,
  DlqQuery,
  GatewayOverview,
  KafkaOverview as KafkaOverviewSchema,
  LedgerCheck,
  LedgerOverview,
  LoadRun,
  LoadRunBody,
  LoadRunList,
  LoadRunParams,
  MerchantList,
  OutboxOverview,
  Overview,
} from './operations-schemas.ts'

export interface OperationsRoutesOptions {
  adminToken: string | undefined
  db: Kysely<Database>
  /** The roles' scrapes; without it (tests of the api alone) overview and gateway are not served and the outbox has no publish rate. */
  sampler?: RoleSampler | undefined
  /** Without it /api/admin/kafka is not served. */
  kafka?: KafkaOverview | undefined
  /** Without it /api/admin/load-runs is not served. */
  loadRuns?: LoadRuns | undefined
  /** PROMETHEUS_URL; undefined: the overview has no alerts section. */
  prometheusUrl?: string | undefined
  /** Each outbound request's limit. Default: 800 (OPS_SCRAPE_TIMEOUT_MS). */
  timeoutMs?: number
  /** payment.dlq, for the workers' dead letters; without it only the relay's are listed. */
  deadLetters?: DeadLetterTopicOptions | undefined
}

const errors = { 401: ProblemSchema }

function parsedJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * The operations endpoints the dashboard reads (issue 15), behind ADMIN_TOKEN and audited like
 * every /api/admin route. Each is cheap enough to poll every second: the roles are scraped at
 * most once per OPS_SCRAPE_MIN_INTERVAL_MS, Kafka is asked at most as often, every outbound call
 * has a deadline, and a role that does not answer shows as down.
 */
export async function operationsRoutes(
  parent: FastifyInstance,
  options: OperationsRoutesOptions,
): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  guardAndAudit(app, options)
  // The totals group the whole ledger: a dashboard polling every second shares one scan per 5 s.
  const totals = new SharedCache(() => ledgerTotals(options.db), 5000)

  const { sampler, kafka, loadRuns } = options
  if (sampler !== undefined) roleRoutes(app, sampler, options)

  app.get(
    '/api/admin/outbox',
    {
      schema: {
        summary: 'Outbox backlog, dead count, publish rate and each relay with its leased buckets',
        response: { 200: OutboxOverview, ...errors },
      },
    },
    async () => outboxView(options.db, sampler),
  )

  if (kafka !== undefined)
    app.get(
      '/api/admin/kafka',
      {
        schema: {
          summary:
            "The workers' consumer groups with lag per partition, their handlers, payment.dlq, acquirer breakers",
          response: { 200: KafkaOverviewSchema, ...errors },
        },
      },
      async () => kafka.view(),
    )

  app.get(
    '/api/admin/ledger',
    {
      schema: {
        summary: 'The last ledger check and the totals per account and currency',
        response: { 200: LedgerOverview, ...errors },
      },
    },
    async () => {
      const [lastCheck, accounts] = await Promise.all([lastLedgerCheck(options.db), totals.get()])
      return { lastCheck, totals: accounts }
    },
  )

  app.post(
    '/api/admin/ledger/check',
    {
      config: { auditTarget: () => 'ledger' },
      schema: {
        summary: 'Check the ledger now and store the result',
        response: { 200: LedgerCheck, ...errors },
      },
    },
    async () => recordLedgerCheck(options.db, await checkLedger(options.db), 'api'),
  )

  app.get(
    '/api/admin/dlq',
    {
      schema: {
        summary:
          "Dead events, paged: the relay's (items, by event id) and the workers' from payment.dlq (consumer, by <partition>:<offset>), with headers and payload",
        querystring: DlqQuery,
        response: { 200: DlqPage, ...errors },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 100)
      const offset = Number(request.query.offset ?? 0)
      const topic = options.deadLetters
      const [relay, relayTotal, consumer] = await Promise.all([
        listDead(options.db, limit, offset),
        countDead(options.db),
        topic === undefined
          ? Promise.resolve({ items: [], total: 0 })
          : pageConsumerDeadLetters(options.db, { ...topic, limit, offset }),
      ])
      return {
        items: relay.map((row) => ({
          event_id: row.event_id,
          payment_id: row.payment_id,
          event_type: row.event_type,
          topic: row.topic,
          attempts: Number(row.attempts),
          last_error: row.last_error,
          created_at: Number(row.created_at),
          dead_at: Number(row.dead_at),
          headers: parsedJson(row.headers) as Record<string, string>,
          payload: parsedJson(row.payload),
        })),
        consumer: consumer.items,
        total: { relay: relayTotal, consumer: consumer.total },
        limit,
        offset,
      }
    },
  )

  app.get(
    '/api/admin/merchants',
    {
      schema: {
        summary: 'Merchants with the prefixes of their active keys (never a key)',
        response: { 200: MerchantList, ...errors },
      },
    },
    async () => ({ items: await listMerchants(options.db) }),
  )

  if (loadRuns !== undefined) loadRunRoutes(app, loadRuns)
}

function loadRunRoutes(parent: FastifyInstance, loadRuns: LoadRuns): void {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  app.post(
    '/api/admin/load-runs',
    {
      config: {
        auditTarget: (request) => {
          const body = request.body as { scenario?: string; rate?: number; duration?: number }
          return `load ${body.scenario} ${body.rate}/s ${body.duration}s`
        },
      },
      schema: {
        summary: 'Start `payrail load` against the gateway; one run at a time (409 LOAD_RUN_IN_PROGRESS)',
        body: LoadRunBody,
        response: { 202: LoadRun, 400: ProblemSchema, 409: ProblemSchema, ...errors },
      },
    },
    async (request, reply) => reply.code(202).send(loadRuns.start(request.body)),
  )

  app.get(
    '/api/admin/load-runs',
    {
      schema: {
        summary: 'Load runs, running and past, newest first',
        response: { 200: LoadRunList, ...errors },
      },
    },
    async () => ({ items: loadRuns.list() }),
  )

  app.get(
    '/api/admin/load-runs/:id',
    {
      schema: {
        summary: "A load run's live progress, and its JSON report once it ended",
        params: LoadRunParams,
        response: { 200: LoadRun, 404: ProblemSchema, ...errors },
      },
    },
    async (request) => {
      const run = loadRuns.get(request.params.id)
      const report = run.hasReport ? loadRuns.report(run.id) : undefined
      return report === undefined ? run : { ...run, report }
    },
  )

  app.get(
    '/api/admin/load-runs/:id/report.html',
    {
      schema: {
        summary: "A load run's self-contained HTML report",
        params: LoadRunParams,
        produces: ['text/html'],
        response: { 404: ProblemSchema, ...errors },
      },
    },
    async (request, reply) => {
      const html = loadRuns.reportHtml(request.params.id)
      // Sent as it is: no 200 schema, so Fastify does not serialize the text as JSON.
      return reply.type('text/html; charset=utf-8').send(html as never)
    },
  )

  app.post(
    '/api/admin/load-runs/:id/stop',
    {
      config: { auditTarget: (request) => `load run ${(request.params as { id: string }).id}` },
      schema: {
        summary: 'Stop a load run (its report covers what ran)',
        params: LoadRunParams,
        response: { 200: LoadRun, 404: ProblemSchema, ...errors },
      },
    },
    async (request) => loadRuns.stop(request.params.id),
  )
}

/** Overview and gateway: read from the roles' scrapes. */
function roleRoutes(
  parent: FastifyInstance,
  sampler: RoleSampler,
  options: Pick<OperationsRoutesOptions, 'prometheusUrl' | 'timeoutMs'>,
): void {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  app.get(
    '/api/admin/overview',
    {
      schema: {
        summary: "Each role's state, requests per route and authorizations per minute, active alerts",
        response: { 200: Overview, ...errors },
      },
    },
    async () =>
      overview({ sampler, prometheusUrl: options.prometheusUrl, timeoutMs: options.timeoutMs ?? 800 }),
  )
  app.get(
    '/api/admin/gateway',
    {
      schema: {
        summary: "The gateway's upstream instances, timeouts, retries and rate-limit refusals",
        response: { 200: GatewayOverview, ...errors },
      },
    },
    async () => gatewayView((await sampler.latest()).current.roles),
  )
}
