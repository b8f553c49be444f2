/**
 * Shapes of the operations endpoints the dashboard reads (issue 15), as TypeBox schemas: Fastify
 * validates requests and serializes answers with them, and they appear in /api/openapi.json.
 * Keep them stable: the web app is built against them (/work/briefs/ops-contract.md).
 * Numbers that need two samples (rates) are null until the second one.
 */
import { type Static, type TSchema, Type } from 'typebox'

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const Counts = Type.Record(Type.String(), Type.Number())

// GET /api/admin/overview
export const RoleState = Type.Object({
  role: Type.String({ description: 'gateway, api, relay, worker, acquirer, notifier' }),
  url: Type.String(),
  up: Type.Boolean({ description: '/healthz answered 200' }),
  ready: Type.Boolean({ description: '/readyz answered 200' }),
  version: Nullable(Type.String({ description: 'payrail_build_info{version}' })),
  error: Nullable(Type.String({ description: 'why it is down or not ready, e.g. "connection refused"' })),
})
export const RouteRate = Type.Object({
  route: Type.String({ description: "the gateway's route id, e.g. payments.authorize" }),
  requestsPerSecond: Type.Number(),
  errorRate: Type.Number({ description: 'share of 5xx answers, 0 to 1' }),
  p99Seconds: Nullable(Type.Number({ description: 'p99 over the sampling window; null without requests' })),
})
export const Alert = Type.Object({
  name: Type.String(),
  state: Type.String({ description: 'pending or firing' }),
  severity: Nullable(Type.String()),
  summary: Nullable(Type.String()),
  activeAt: Nullable(Type.String()),
})
export const Overview = Type.Object({
  sampledAt: Type.String({ format: 'date-time' }),
  windowSeconds: Nullable(Type.Number({ description: 'time between the two samples the rates come from' })),
  roles: Type.Array(RoleState),
  routes: Type.Array(RouteRate),
  authorizationsPerMinute: Nullable(Type.Number({ description: 'authorize answers 2xx per minute' })),
  alerts: Type.Union([
    Type.Null({ description: 'PROMETHEUS_URL unset' }),
    Type.Object({ items: Type.Array(Alert), error: Nullable(Type.String()) }),
  ]),
})

// GET /api/admin/outbox (extends `payrail outbox status --json`)
export const RelayState = Type.Object({
  id: Type.String(),
  breaker: Type.String({ description: 'closed, half-open or open' }),
  lastHeartbeatSecondsAgo: Type.Number(),
  buckets: Type.Array(Type.Integer(), { description: 'buckets whose lease it holds' }),
  leaseExpiresInSeconds: Nullable(Type.Number({ description: 'earliest expiry of its leases' })),
})
export const OutboxOverview = Type.Object({
  pending: Type.Integer(),
  oldestPendingAgeSeconds: Type.Number(),
  dead: Type.Integer(),
  pendingByType: Counts,
  relays: Type.Array(RelayState),
  buckets: Type.Integer({ description: 'buckets in all (64)' }),
  unleasedBuckets: Type.Integer(),
  publishedPerSecond: Nullable(
    Type.Number({ description: "from the relays' payrail_outbox_published_total" }),
  ),
  publishedTotal: Nullable(Type.Number()),
})

// GET /api/admin/kafka
export const PartitionLag = Type.Object({
  topic: Type.String(),
  partition: Type.Integer(),
  committed: Nullable(Type.Number({ description: 'committed offset; null when none yet' })),
  end: Type.Number(),
  lag: Type.Number(),
})
export const ConsumerGroup = Type.Object({
  groupId: Type.String(),
  handler: Type.String({ description: 'settlement, refund or ledger' }),
  lag: Type.Number(),
  partitions: Type.Array(PartitionLag),
})
export const HandlerState = Type.Object({
  handler: Type.String(),
  inFlight: Type.Number(),
  queued: Type.Number(),
  outcomes: Type.Record(Type.String(), Type.Number(), {
    description: 'payrail_worker_processed_total by outcome',
  }),
  deadLetters: Type.Number(),
})
export const KafkaOverview = Type.Object({
  groups: Type.Array(ConsumerGroup),
  error: Nullable(Type.String({ description: 'Kafka did not answer; groups is then empty' })),
  handlers: Type.Array(HandlerState, {
    description: "from the workers' metrics; empty when no worker answers",
  }),
  workerUp: Type.Boolean(),
  dlqRecords: Nullable(
    Type.Integer({
      description:
        "records ever written to payment.dlq (the relay's and the workers'); the list is GET /api/admin/dlq",
    }),
  ),
  acquirerBreakers: Type.Record(Type.String(), Type.String()),
})

// GET /api/admin/gateway
export const UpstreamInstance = Type.Object({
  upstream: Type.String(),
  instance: Type.String(),
  available: Type.Boolean(),
  ejected: Type.Boolean(),
  inFlight: Type.Number(),
  connected: Type.Number(),
})
export const GatewayOverview = Type.Object({
  up: Type.Boolean(),
  error: Nullable(Type.String()),
  instances: Type.Array(UpstreamInstance),
  waiting: Counts,
  panic: Type.Record(Type.String(), Type.Boolean()),
  timeouts: Type.Array(Type.Object({ upstream: Type.String(), kind: Type.String(), total: Type.Number() })),
  retries: Counts,
  retriesDenied: Counts,
  rateLimited: Counts,
})

// GET /api/admin/ledger, POST /api/admin/ledger/check
export const LedgerCheck = Type.Object({
  id: Type.String(),
  checkedAt: Type.String({ format: 'date-time' }),
  source: Type.String({ description: 'cli or api' }),
  clean: Type.Boolean(),
  payments: Type.Integer(),
  entries: Type.Integer(),
  events: Type.Integer(),
  offenders: Type.Integer(),
  postings: Type.Integer(),
  unbalanced: Type.Array(Type.String()),
  details: Type.Object({
    offenders: Type.Array(
      Type.Object({
        paymentId: Type.String(),
        status: Type.String(),
        expected: Type.Number(),
        posted: Type.Number(),
      }),
    ),
    postings: Type.Array(
      Type.Object({ kind: Type.String(), paymentId: Type.String(), eventId: Type.String() }),
    ),
  }),
})
export const LedgerOverview = Type.Object({
  lastCheck: Type.Union([LedgerCheck, Type.Null()]),
  totals: Type.Array(
    Type.Object({
      currency: Type.String(),
      account: Type.String(),
      debit: Type.Number(),
      credit: Type.Number(),
      balance: Type.Number({ description: 'debit minus credit' }),
    }),
  ),
})

// GET /api/admin/dlq?limit=&offset= (existing fields kept; payload, headers and paging added)
export const DlqQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.String({
        pattern: '^(?:[1-9]|[1-9][0-9]|[1-4][0-9][0-9]|500)$',
        description: '1 to 500, default 100',
      }),
    ),
    offset: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$', description: 'default 0' })),
  },
  { additionalProperties: false },
)
export const RelayDeadLetter = Type.Object({
  event_id: Type.String(),
  payment_id: Type.String(),
  event_type: Type.String(),
  topic: Type.String(),
  attempts: Type.Number(),
  last_error: Type.String(),
  created_at: Type.Number(),
  dead_at: Type.Number(),
  headers: Type.Record(Type.String(), Type.String()),
  payload: Type.Unknown({ description: 'the event envelope' }),
})
export const ConsumerDeadLetterSchema = Type.Object({
  id: Type.String({ description: '<partition>:<offset> in payment.dlq' }),
  failedBy: Type.String(),
  consumerGroup: Type.String(),
  originalTopic: Type.String(),
  originalPartition: Type.Union([Type.Number(), Type.Null()]),
  originalOffset: Type.Union([Type.String(), Type.Null()]),
  errorCode: Type.String(),
  errorMessage: Type.String(),
  attempts: Type.Number(),
  key: Type.Union([Type.String(), Type.Null()]),
  eventId: Type.Union([Type.String(), Type.Null()]),
  paymentId: Type.Union([Type.String(), Type.Null()]),
  applied: Type.Boolean(),
  headers: Type.Record(Type.String(), Type.String()),
  timestamp: Type.Number(),
  payload: Type.Unknown({ description: 'the record value, parsed when JSON, else the text' }),
})
export const DlqPage = Type.Object({
  items: Type.Array(RelayDeadLetter),
  consumer: Type.Array(ConsumerDeadLetterSchema),
  total: Type.Object({ relay: Type.Integer(), consumer: Type.Integer() }),
  limit: Type.Integer(),
  offset: Type.Integer(),
})

// /api/admin/load-runs
export const LoadRunBody = Type.Object(
  {
    scenario: Type.Union([
      Type.Literal('authorize'),
      Type.Literal('flow'),
      Type.Literal('read'),
      Type.Literal('mix'),
    ]),
    rate: Type.Number({
      exclusiveMinimum: 0,
      description: 'iterations per second, at most LOAD_RUN_MAX_RATE',
    }),
    duration: Type.Integer({ minimum: 1, description: 'seconds, at most LOAD_RUN_MAX_DURATION_SECONDS' }),
  },
  { additionalProperties: false },
)
export const LoadProgress = Type.Object({
  elapsedSeconds: Type.Number(),
  totalSeconds: Type.Number(),
  requests: Type.Number(),
  targetRate: Type.Number(),
  achievedRate: Type.Number(),
  p50Ms: Type.Number(),
  p99Ms: Type.Number(),
  errors: Type.Number(),
  dropped: Type.Number(),
})
export const LoadRun = Type.Object({
  id: Type.String(),
  scenario: Type.String(),
  rate: Type.Number(),
  durationSeconds: Type.Integer(),
  status: Type.String({ description: 'running, finished, failed or stopped' }),
  startedAt: Type.String({ format: 'date-time' }),
  endedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  progress: Type.Union([LoadProgress, Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  hasReport: Type.Boolean(),
  report: Type.Optional(Type.Unknown({ description: 'the JSON report (GET of one run, once finished)' })),
})
export const LoadRunList = Type.Object({ items: Type.Array(LoadRun) })
export const LoadRunParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-z-]{1,64}$' }) })

// GET /api/admin/merchants
export const MerchantList = Type.Object({
  items: Type.Array(
    Type.Object({
      merchantId: Type.String(),
      name: Type.String(),
      createdAt: Type.String({ format: 'date-time' }),
      activeKeys: Type.Array(Type.String({ description: 'prefixes of its active keys, never the keys' })),
    }),
  ),
})

export type OverviewT = Static<typeof Overview>
export type OutboxOverviewT = Static<typeof OutboxOverview>
export type KafkaOverviewT = Static<typeof KafkaOverview>
export type GatewayOverviewT = Static<typeof GatewayOverview>
export type LedgerCheckT = Static<typeof LedgerCheck>
export type LedgerOverviewT = Static<typeof LedgerOverview>
export type LoadRunT = Static<typeof LoadRun>
export type LoadProgressT = Static<typeof LoadProgress>
