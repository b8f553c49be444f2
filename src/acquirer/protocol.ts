import { type Static, Type } from 'typebox'

/**
 * The wire contract between payrail and the acquirer (the card processor; `payrail acquirer`
 * simulates one). Every operation carries a `reference` chosen by payrail; the acquirer acts at
 * most once per reference and answers a repeat with the first result, so a retry after a lost
 * answer never charges, settles or refunds twice.
 *
 * Only one answer proves that nothing was done: `503` with the body `{"processed": false, …}`
 * (`REJECTED_BEFORE_PROCESSING`). Any other 5xx, a reset after sending, a late answer or an
 * answer that does not match its schema leaves the outcome unknown.
 */
export interface AuthorizeRequest {
  reference: string
  amount: number
  currency: string
}

// The lengths are those of the columns the answers are stored in (payments.acquirer_reference
// varchar(64), payments.message varchar(500) with its "declined: " prefix), so that a valid
// answer always fits.
export const AuthorizationResultSchema = Type.Object({
  reference: Type.String({ minLength: 1, maxLength: 64 }),
  approved: Type.Boolean(),
  authorizationCode: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()]),
  declineReason: Type.Union([Type.String({ maxLength: 400 }), Type.Null()]),
})
export type AuthorizationResult = Static<typeof AuthorizationResultSchema>

export interface SettleRequest {
  reference: string
  amount: number
  currency: string
}

export const SettlementResultSchema = Type.Object({
  reference: Type.String({ minLength: 1, maxLength: 64 }),
  settled: Type.Boolean(),
  failureReason: Type.Union([Type.String({ maxLength: 400 }), Type.Null()]),
})
export type SettlementResult = Static<typeof SettlementResultSchema>

export interface RefundRequest {
  reference: string
  amount: number
  currency: string
}

export const RefundResultSchema = Type.Object({
  reference: Type.String({ minLength: 1, maxLength: 64 }),
  refunded: Type.Boolean(),
  failureReason: Type.Union([Type.String({ maxLength: 400 }), Type.Null()]),
})
export type RefundResult = Static<typeof RefundResultSchema>

/** Releases the hold of an approved authorization (a reversal); repeated, it answers the same. */
export interface VoidRequest {
  reference: string
}

/** `voided: false` when the reference was never approved (declined or unknown): nothing to release. */
export const VoidResultSchema = Type.Object({
  reference: Type.String({ minLength: 1, maxLength: 64 }),
  voided: Type.Boolean(),
})
export type VoidResult = Static<typeof VoidResultSchema>

/** The one answer that proves the acquirer did nothing: 503 with this body. */
export const REJECTED_BEFORE_PROCESSING = 503
export const RejectionSchema = Type.Object({
  processed: Type.Literal(false),
  error: Type.String(),
})

/** How the simulator behaves; switched at run time for resilience tests. */
export const ACQUIRER_MODES = [
  'normal',
  // every answer takes slowExtraMs longer
  'slow',
  // every operation is refused before processing (503 {processed:false})
  'failing',
  'down',
  // the operation is carried out, then answered with a bare 500
  'error-after-processing',
  // the operation is carried out, then the connection is reset without an answer
  'reset-after-processing',
  // answers 200 with a body that breaks the schema ("approved":"false")
  'malformed',
] as const
export type AcquirerMode = (typeof ACQUIRER_MODES)[number]

export const ACQUIRER_PATHS = {
  authorize: '/v1/authorizations',
  authorization: (reference: string) => `/v1/authorizations/${encodeURIComponent(reference)}`,
  void: '/v1/voids',
  settle: '/v1/settlements',
  refund: '/v1/refunds',
  mode: '/admin/mode',
  /** What the simulator did per reference: `GET` to read, `DELETE` to start counting afresh. */
  ledger: '/admin/authorizations',
} as const

/** The simulator's count of what it did under one reference (`GET /admin/authorizations`). */
export interface ReferenceLedger {
  /** Times an authorization was carried out under the reference: never more than one. */
  authorized: number
  approved: boolean
  voided: boolean
  /** Times a settle was carried out under the reference (settled or failed); a repeat answered from memory does not count. */
  settled: number
  /** Times a refund was carried out under the reference, the same way. */
  refunded: number
}

/**
 * Amounts whose last two digits pick a decline, like a processor's test cards: the simulator is
 * random only in its latency and its processor errors, never in its business answers.
 */
export const DECLINING_CENTS = { authorize: 51, settle: 52, refund: 53 } as const
