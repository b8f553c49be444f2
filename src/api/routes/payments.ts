import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isKnownCurrency } from '../../domain/currency.ts'
import { PayrailError } from '../../domain/errors.ts'
import type { MerchantAuthenticator } from '../auth.ts'
import { type Outcome, requestFingerprint } from '../idempotency.ts'
import type { PaymentReads } from '../payment-reads.ts'
import type { ChangeCommand, PaymentService } from '../payment-service.ts'
import {
  AuthorizeBody,
  CaptureBody,
  IdempotencyHeaders,
  ListQuery,
  Payment,
  PaymentPage,
  PaymentParams,
  ProblemSchema,
  RefundBody,
} from '../schemas.ts'

export interface PaymentRoutesOptions {
  service: PaymentService
  reads: PaymentReads
  auth: MerchantAuthenticator
  maxAmount: number
}

declare module 'fastify' {
  interface FastifyRequest {
    merchantId: string
  }
}

const problems = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  409: ProblemSchema,
  422: ProblemSchema,
  503: ProblemSchema,
}

/** The key from the header or the body; both may be given, but then they must agree. */
function idempotencyKeyOf(
  request: FastifyRequest,
  body: { idempotencyKey?: string | undefined },
): string | undefined {
  const header = request.headers['idempotency-key']
  const fromHeader = Array.isArray(header) ? header[0] : header
  if (fromHeader !== undefined && body.idempotencyKey !== undefined && fromHeader !== body.idempotencyKey) {
    throw new PayrailError(
      'VALIDATION_FAILED',
      'the Idempotency-Key header and the idempotencyKey field differ',
    )
  }
  return fromHeader ?? body.idempotencyKey
}

/** A merchantId in the body is the seed's field: it is accepted only when it names the key's own merchant. */
function checkMerchant(request: FastifyRequest, body: { merchantId?: string | undefined }): void {
  if (body.merchantId !== undefined && body.merchantId !== request.merchantId) {
    throw new PayrailError(
      'MERCHANT_MISMATCH',
      `merchantId ${JSON.stringify(body.merchantId)} does not belong to this API key`,
    )
  }
}

function checkAmount(amount: number | undefined, maxAmount: number): void {
  if (amount !== undefined && (amount > maxAmount || !Number.isSafeInteger(amount))) {
    throw new PayrailError(
      'AMOUNT_OUT_OF_RANGE',
      `amount must be a whole number of minor units from 1 to ${maxAmount}`,
    )
  }
}

/** The checks and fields every change of an existing payment (capture, refund) shares. */
function changeCommand(
  request: FastifyRequest,
  operation: 'capture' | 'refund',
  body: { merchantId?: string | undefined; amount?: number | undefined; idempotencyKey?: string | undefined },
  fingerprinted: Record<string, unknown>,
  maxAmount: number,
): ChangeCommand {
  checkMerchant(request, body)
  checkAmount(body.amount, maxAmount)
  const { paymentId } = request.params as { paymentId: string }
  return {
    merchantId: request.merchantId,
    paymentId,
    amount: body.amount,
    idempotencyKey: idempotencyKeyOf(request, body),
    fingerprint: requestFingerprint(operation, paymentId, fingerprinted),
    traceparent: traceparentOf(request),
  }
}

async function send(reply: FastifyReply, outcome: Outcome) {
  if (outcome.replayed) reply.header('idempotent-replayed', 'true')
  return reply.code(outcome.statusCode).send(outcome.body)
}

function traceparentOf(request: FastifyRequest): string | undefined {
  const header = request.headers.traceparent
  return Array.isArray(header) ? header[0] : header
}

export async function paymentRoutes(parent: FastifyInstance, options: PaymentRoutesOptions): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  const { service, reads, auth, maxAmount } = options

  app.decorateRequest('merchantId', '')
  app.addHook('onRequest', async (request) => {
    request.merchantId = await auth.merchantOf(request.headers.authorization)
  })

  app.post(
    '/api/payments/authorize',
    {
      schema: {
        summary: 'Authorize a card payment with the acquirer',
        headers: IdempotencyHeaders,
        body: AuthorizeBody,
        response: { 201: Payment, ...problems },
      },
    },
    async (request, reply) => {
      checkMerchant(request, request.body)
      checkAmount(request.body.amount, maxAmount)
      if (!isKnownCurrency(request.body.currency)) {
        throw new PayrailError(
          'UNSUPPORTED_CURRENCY',
          `currency ${request.body.currency} is not an ISO 4217 code this service knows`,
        )
      }
      const idempotencyKey = idempotencyKeyOf(request, request.body)
      if (idempotencyKey === undefined) {
        throw new PayrailError(
          'VALIDATION_FAILED',
          'authorize needs an idempotency key: the Idempotency-Key header or the idempotencyKey field',
        )
      }
      const outcome = await service.authorize({
        merchantId: request.merchantId,
        amount: request.body.amount,
        currency: request.body.currency,
        idempotencyKey,
        fingerprint: requestFingerprint('authorize', '', {
          amount: request.body.amount,
          currency: request.body.currency,
        }),
        traceparent: traceparentOf(request),
      })
      return send(reply, outcome)
    },
  )

  app.post(
    '/api/payments/capture/:paymentId',
    {
      schema: {
        summary: 'Request settlement of an authorized payment (partial captures allowed)',
        headers: IdempotencyHeaders,
        params: PaymentParams,
        body: CaptureBody,
        response: { 202: Payment, ...problems },
      },
    },
    async (request, reply) => {
      const { body } = request
      const command = changeCommand(request, 'capture', body, { amount: body.amount ?? null }, maxAmount)
      return send(reply, await service.capture(command))
    },
  )

  app.post(
    '/api/payments/refund/:paymentId',
    {
      schema: {
        summary: 'Request a refund of a captured payment (partial refunds allowed)',
        headers: IdempotencyHeaders,
        params: PaymentParams,
        body: RefundBody,
        response: { 202: Payment, ...problems },
      },
    },
    async (request, reply) => {
      const { body } = request
      const fingerprinted = { amount: body.amount ?? null, reason: body.reason }
      const command = changeCommand(request, 'refund', body, fingerprinted, maxAmount)
      return send(reply, await service.refund({ ...command, reason: body.reason }))
    },
  )

  app.get(
    '/api/payments/:paymentId',
    {
      schema: {
        summary: 'A payment with its ledger entries and event timeline',
        params: PaymentParams,
        response: { 200: Payment, ...problems },
      },
    },
    async (request) => reads.get(request.merchantId, request.params.paymentId),
  )

  app.get(
    '/api/payments',
    {
      schema: {
        summary: "The merchant's payments, newest first, cursor-paged",
        querystring: ListQuery,
        response: { 200: PaymentPage, ...problems },
      },
    },
    async (request) => {
      const { status, from, to, cursor, limit } = request.query
      return reads.list({
        merchantId: request.merchantId,
        status,
        from: from === undefined ? undefined : Date.parse(from),
        to: to === undefined ? undefined : Date.parse(to),
        cursor,
        limit: limit === undefined ? 20 : Number(limit),
      })
    },
  )
}
