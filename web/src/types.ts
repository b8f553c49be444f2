// Shapes of payrail's answers the dashboard reads: the payment API (src/api/views.ts) and the
// operations endpoints (src/api/routes/operations-schemas.ts on the api side).

export interface LedgerEntry {
  debitAccount: string
  creditAccount: string
  amount: number
}

export interface TimelineEntry {
  eventId: string
  type: string
  sequence: number
  occurredAt: string
  data: Record<string, unknown>
}

export interface Payment {
  paymentId: string
  merchantId: string
  status: string
  amount: number
  currency: string
  capturedAmount: number
  refundedAmount: number
  createdAt: string
  updatedAt: string
  ledgerEntries: LedgerEntry[]
  message: string | null
  events?: TimelineEntry[]
}

export interface PaymentPage {
  items: Payment[]
  nextCursor: string | null
}

export interface RoleState {
  role: string
  url: string
  up: boolean
  ready: boolean
  version: string | null
  error: string | null
}

export interface Overview {
  sampledAt: string
  windowSeconds: number | null
  roles: RoleState[]
  routes: { route: string; requestsPerSecond: number; errorRate: number; p99Seconds: number | null }[]
  authorizationsPerMinute: number | null
  alerts: null | {
    items: {
      name: string
      state: string
      severity: string | null
      summary: string | null
      activeAt: string | null
    }[]
    error: string | null
  }
}

export interface OutboxOverview {
  pending: number
  oldestPendingAgeSeconds: number
  dead: number
  pendingByType: Record<string, number>
  relays: {
    id: string
    breaker: string
    lastHeartbeatSecondsAgo: number
    buckets?: number[]
    leaseExpiresInSeconds?: number | null
  }[]
  buckets?: number
  unleasedBuckets?: number
  publishedPerSecond?: number | null
  publishedTotal?: number | null
}

export interface RelayDeadLetter {
  event_id: string
  payment_id: string
  event_type: string
  topic: string
  attempts: number
  last_error: string
  created_at: number
  headers?: Record<string, string>
  payload?: unknown
}

export interface ConsumerDeadLetter {
  id: string
  failedBy: string
  consumerGroup: string
  originalTopic: string
  originalPartition: number | null
  originalOffset: string | null
  errorCode: string
  errorMessage: string
  attempts: number
  eventId: string | null
  paymentId: string | null
  applied: boolean
  headers: Record<string, string>
  timestamp: number
  payload?: unknown
}

export interface DeadLetters {
  items: RelayDeadLetter[]
  consumer: ConsumerDeadLetter[]
  total?: { relay: number; consumer: number }
}

export interface KafkaOverview {
  groups: {
    groupId: string
    handler: string
    lag: number
    partitions: { topic: string; partition: number; committed: number | null; end: number; lag: number }[]
  }[]
  error: string | null
  handlers: {
    handler: string
    inFlight: number
    queued: number
    outcomes: Record<string, number>
    deadLetters: number
  }[]
  workerUp: boolean
  /** Records ever written to payment.dlq (relay and workers); null when Kafka did not answer. */
  dlqRecords: number | null
  acquirerBreakers: Record<string, string>
}

export interface GatewayOverview {
  up: boolean
  error: string | null
  instances: {
    upstream: string
    instance: string
    available: boolean
    ejected: boolean
    inFlight: number
    connected: number
  }[]
  waiting: Record<string, number>
  panic: Record<string, boolean>
  timeouts: { upstream: string; kind: string; total: number }[]
  retries: Record<string, number>
  retriesDenied: Record<string, number>
  rateLimited: Record<string, number>
}

export interface LedgerOverview {
  lastCheck: null | {
    id: string
    checkedAt: string
    source: string
    clean: boolean
    payments: number
    entries: number
    events: number
    offenders: number
    postings: number
    unbalanced: string[]
  }
  totals: { currency: string; account: string; debit: number; credit: number; balance: number }[]
}

export interface LoadRun {
  id: string
  scenario: string
  rate: number
  durationSeconds: number
  status: string
  startedAt: string
  endedAt: string | null
  progress: null | {
    elapsedSeconds: number
    totalSeconds: number
    requests: number
    targetRate: number
    achievedRate: number
    p50Ms: number
    p99Ms: number
    errors: number
    dropped: number
  }
  error: string | null
  hasReport: boolean
  report?: unknown
}
