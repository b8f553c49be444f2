import { Type } from 'typebox'
import { PAYMENT_STATUSES } from '../domain/payment.ts'

// Request schemas reject unknown fields and never coerce types: "100" is not an amount.
const merchantId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' })
const idempotencyKey = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' })
const amount = Type.Integer({ minimum: 1, description: 'minor units (KRW has none, USD cents)' })
const currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' })

export const AuthorizeBody = Type.Object(
  { merchantId: Type.Optional(merchantId), amount, currency, idempotencyKey: Type.Optional(idempotencyKey) },
  { additionalProperties: false },
)

export const CaptureBody = Type.Object(
  {
    merchantId: Type.Optional(merchantId),
    amount: Type.Optional(amount),
    idempotencyKey: Type.Optional(idempotencyKey),
  },
  { additionalProperties: false },
)

export const RefundBody = Type.Object(
  {
    merchantId: Type.Optional(merchantId),
    amount: Type.Optional(amount),
    reason: Type.String({ minLength: 1, maxLength: 200 }),
    idempotencyKey: Type.Optional(idempotencyKey),
  },
  { additionalProperties: false },
)

export const PaymentParams = Type.Object({ paymentId: Type.String({ minLength: 1, maxLength: 64 }) })

export const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(PAYMENT_STATUSES)),
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    limit: Type.Optional(
      Type.String({ pattern: '^(?:[1-9]|[1-9][0-9]|100)$', description: '1 to 100, default 20' }),
    ),
  },
  { additionalProperties: false },
)

export const IdempotencyHeaders = Type.Object({ 'idempotency-key': Type.Optional(idempotencyKey) })

const LedgerEntry = Type.Object({
  debitAccount: Type.String(),
  creditAccount: Type.String(),
  amount: Type.Integer(),
})
const TimelineEntry = Type.Object({
  eventId: Type.String(),
  type: Type.String(),
  sequence: Type.Integer(),
  occurredAt: Type.String({ format: 'date-time' }),
  data: Type.Record(Type.String(), Type.Unknown()),
})

export const Payment = Type.Object({
  paymentId: Type.String(),
  merchantId: Type.String(),
  status: Type.Enum(PAYMENT_STATUSES),
  amount: Type.Integer(),
  currency: Type.String(),
  capturedAmount: Type.Integer(),
  refundedAmount: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  ledgerEntries: Type.Array(LedgerEntry),
  message: Type.Union([Type.String(), Type.Null()]),
  events: Type.Optional(Type.Array(TimelineEntry)),
})

export const PaymentPage = Type.Object({
  items: Type.Array(Payment),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})

export const ProblemSchema = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  code: Type.String(),
  message: Type.String(),
  paymentId: Type.Optional(Type.String()),
  errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
})

export const CreateMerchantBody = Type.Object(
  { merchantId, name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
  { additionalProperties: false },
)
