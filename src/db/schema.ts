import type { ColumnType, Generated } from 'kysely'

/**
 * Row types of every table, as Kysely sees them. Times are epoch milliseconds and amounts are
 * integers in minor units: both are portable across the three dialects and never floats.
 */
export interface Database {
  merchants: MerchantTable
  api_keys: ApiKeyTable
  payments: PaymentTable
  ledger_entries: LedgerEntryTable
  outbox_events: OutboxEventTable
  idempotency_records: IdempotencyRecordTable
  processed_events: ProcessedEventTable
  authorization_attempts: AuthorizationAttemptTable
  payment_events: PaymentEventTable
  outbox_leases: OutboxLeaseTable
  outbox_pending: OutboxPendingTable
  outbox_retries: OutboxRetryTable
  outbox_dead: OutboxDeadTable
  relay_instances: RelayInstanceTable
  admin_audit: AdminAuditTable
  ledger_checks: LedgerCheckTable
  webhook_endpoints: WebhookEndpointTable
  webhook_deliveries: WebhookDeliveryTable
  webhook_attempts: WebhookAttemptTable
}

export interface MerchantTable {
  id: string
  name: string
  created_at: number
}

export interface ApiKeyTable {
  id: string
  merchant_id: string
  /** The key's first characters, shown to operators and used to find it for revocation. */
  prefix: string
  /** SHA-256 of the whole key; the key itself is never stored. */
  key_hash: string
  created_at: number
  revoked_at: number | null
}

export interface PaymentTable {
  id: string
  merchant_id: string
  idempotency_key: string | null
  status: string
  amount: number
  currency: string
  captured_amount: Generated<number>
  refunded_amount: Generated<number>
  /** The `sequence` of this payment's latest outbox event. */
  last_sequence: Generated<number>
  acquirer_reference: string | null
  message: string | null
  created_at: number
  updated_at: number
}

export interface LedgerEntryTable {
  id: string
  payment_id: string
  event_id: string
  debit_account: string
  credit_account: string
  amount: number
  created_at: number
}

export interface OutboxEventTable {
  id: Generated<number>
  event_id: string
  payment_id: string
  merchant_id: string
  sequence: number
  topic: string
  event_type: string
  payload: string
  headers: string
  created_at: number
  /** The relay bucket of the payment (see outbox/buckets.ts). */
  bucket: Generated<number>
}

/** Outbox rows waiting for their first send (see migration 003). */
export interface OutboxPendingTable {
  id: number
  bucket: number
}

/** Outbox rows the broker refused: due again at `available_at`; they hold back their payment. */
export interface OutboxRetryTable {
  id: number
  bucket: number
  attempts: number
  available_at: number
  last_error: string
}

/** Outbox rows sent to payment.dlq after their retries; `payrail dlq replay` puts them back in line. */
export interface OutboxDeadTable {
  id: number
  attempts: number
  last_error: string
  dead_at: number
}

export interface IdempotencyRecordTable {
  merchant_id: string
  idempotency_key: string
  request_hash: string
  state: string
  response_status: number | null
  response_body: string | null
  payment_id: string | null
  created_at: number
  updated_at: number
}

export interface ProcessedEventTable {
  consumer: string
  event_id: string
  processed_at: number
}

export interface AuthorizationAttemptTable {
  payment_id: string
  merchant_id: string
  idempotency_key: string
  amount: number
  currency: string
  /**
   * PENDING until the payment is written (DONE) or the acquirer is known not to have it
   * (ABANDONED); an approval that surfaces after ABANDONED is VOIDING until the acquirer has
   * released it (VOIDED).
   */
  state: string
  /** The database's clock (db/clock.ts), as are the sweep's columns below. */
  created_at: number
  updated_at: number
  unknown_since: ColumnType<number | null, number | null | undefined, number | null>
  next_check_at: ColumnType<number, number | undefined, number>
  failures: ColumnType<number, number | undefined, number>
  last_error: ColumnType<string | null, string | null | undefined, string | null>
}

export interface PaymentEventTable {
  event_id: string
  payment_id: string
  sequence: number
  event_type: string
  occurred_at: number
  data: string
}

export interface OutboxLeaseTable {
  bucket: number
  owner: string | null
  /** Fencing token: grows with every change of owner. */
  token: number
  expires_at: number
}

export interface RelayInstanceTable {
  id: string
  heartbeat_at: number
  breaker_state: string
}

/** One request to the operations plane (migration 005). */
export interface AdminAuditTable {
  id: string
  at: number
  actor: string
  action: string
  target: string | null
  source: string
  request_id: string
  status: number | null
}

/** One ledger check's result (migration 008): `report` is JSON, `clean` 1 or 0. */
export interface LedgerCheckTable {
  id: string
  checked_at: number
  source: string
  clean: number
  report: string
}

/** A merchant's webhook endpoint (migration 009). */
export interface WebhookEndpointTable {
  id: string
  merchant_id: string
  url: string
  /** Comma-separated webhook event types (`payment.captured,…`). */
  event_types: string
  /** 1 or 0. */
  enabled: number
  /** The signing secret, sealed (webhooks/secrets.ts). */
  secret: string
  /** The secret before the last roll, also signed with until `previous_secret_until`. */
  previous_secret: string | null
  previous_secret_until: number | null
  disabled_reason: string | null
  /** The first failed attempt since the last success; the endpoint is disabled when it is days old. */
  failing_since: number | null
  created_at: number
  updated_at: number
}

/** One event to one endpoint: PENDING until DELIVERED, or FAILED after the schedule ran out. */
export interface WebhookDeliveryTable {
  id: string
  endpoint_id: string
  merchant_id: string
  event_id: string
  event_type: string
  payment_id: string
  sequence: number
  /** The exact bytes sent on every attempt. */
  body: string
  state: string
  attempts: number
  next_attempt_at: number
  /** A sender holds the row until then while it sends; 0 when nobody does. */
  lease_until: number
  /** Retries run until WEBHOOK_RETRY_FOR after this: the first attempt, or the last manual redelivery. */
  retry_from: number
  last_status: number | null
  last_error: string | null
  last_latency_ms: number | null
  created_at: number
  updated_at: number
  delivered_at: number | null
}

/** One attempt of a delivery: the delivery log. */
export interface WebhookAttemptTable {
  delivery_id: string
  attempt: number
  at: number
  status: number | null
  error: string | null
  latency_ms: number
}
