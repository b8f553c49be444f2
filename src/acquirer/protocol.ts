/**
 * The wire contract between payrail and the acquirer (the card processor; `payrail acquirer`
 * simulates one). Every operation carries a `reference` chosen by payrail; the acquirer acts at
 * most once per reference and answers a repeat with the first result, so a retry after a lost
 * answer never charges, settles or refunds twice. A 5xx answer means nothing was done.
 */
export interface AuthorizeRequest {
  reference: string
  amount: number
  currency: string
}

export interface AuthorizationResult {
  reference: string
  approved: boolean
  authorizationCode: string | null
  declineReason: string | null
}

export interface SettleRequest {
  reference: string
  amount: number
  currency: string
}

export interface SettlementResult {
  reference: string
  settled: boolean
  failureReason: string | null
}

export interface RefundRequest {
  reference: string
  amount: number
  currency: string
}

export interface RefundResult {
  reference: string
  refunded: boolean
  failureReason: string | null
}

/** How the simulator behaves; switched at run time for resilience tests. */
export type AcquirerMode = 'normal' | 'slow' | 'failing' | 'down'

export const ACQUIRER_PATHS = {
  authorize: '/v1/authorizations',
  authorization: (reference: string) => `/v1/authorizations/${encodeURIComponent(reference)}`,
  settle: '/v1/settlements',
  refund: '/v1/refunds',
  mode: '/admin/mode',
} as const

/**
 * Amounts whose last two digits pick a decline, like a processor's test cards: the simulator is
 * random only in its latency and its processor errors, never in its business answers.
 */
export const DECLINING_CENTS = { authorize: 51, settle: 52, refund: 53 } as const
