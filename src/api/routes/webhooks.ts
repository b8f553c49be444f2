import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { Database } from '../../db/schema.ts'
import {
  deliveryWithAttempts,
  listDeliveries,
  redeliver,
  redeliverFailed,
} from '../../webhooks/delivery-log.ts'
import {
  checkEndpointUrl,
  checkEventTypes,
  createEndpoint,
  deleteEndpoint,
  endpointView,
  findEndpoint,
  rollSecret,
  setEnabled,
  type UrlPolicy,
} from '../../webhooks/endpoints.ts'
import type { SecretBox } from '../../webhooks/secrets.ts'
import type { MerchantAuthenticator } from '../auth.ts'
import { ProblemSchema } from '../schemas.ts'

export interface WebhookRoutesOptions {
  db: Kysely<Database>
  auth: MerchantAuthenticator
  box: SecretBox
  policy: UrlPolicy
  /** How long a rolled secret keeps signing. Default: 24 h (WEBHOOK_SECRET_GRACE). */
  secretGraceMs: number
  now?: () => number
}

const problems = { 400: ProblemSchema, 401: ProblemSchema, 404: ProblemSchema, 422: ProblemSchema }
// The views are written out by endpoints.ts and delivery-log.ts; the schemas here document the errors.
const answers = {
  200: { 200: Type.Unknown(), ...problems },
  201: { 201: Type.Unknown(), ...problems },
  202: { 202: Type.Unknown(), ...problems },
  204: { 204: Type.Null(), ...problems },
} as const
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
const CreateBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048 }),
    eventTypes: Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: 20 }),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
const DeliveryQuery = Type.Object({
  endpointId: Type.Optional(Type.String({ maxLength: 64 })),
  eventId: Type.Optional(Type.String({ maxLength: 64 })),
  state: Type.Optional(
    Type.Union([Type.Literal('PENDING'), Type.Literal('DELIVERED'), Type.Literal('FAILED')]),
  ),
  limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$' })),
})

/**
 * Merchant webhooks: `/api/webhook-endpoints` (create, list, read, enable/disable, delete, roll
 * the secret, redeliver the failed) and `/api/webhook-deliveries` (the delivery log and manual
 * redelivery). The merchant comes from the API key; another merchant's endpoint or delivery
 * answers 404 like a missing one.
 */
export async function webhookRoutes(parent: FastifyInstance, options: WebhookRoutesOptions): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  const { db, box } = options
  const now = options.now ?? Date.now
  app.decorateRequest('merchantId', '')
  app.addHook('onRequest', async (request) => {
    request.merchantId = await options.auth.merchantOf(request.headers.authorization)
  })

  app.post(
    '/api/webhook-endpoints',
    {
      schema: {
        summary: 'Register a webhook endpoint; the answer shows its signing secret, once',
        body: CreateBody,
        response: answers[201],
      },
    },
    async (request, reply) => {
      const url = checkEndpointUrl(request.body.url, options.policy)
      const eventTypes = checkEventTypes(request.body.eventTypes)
      const at = now()
      const created = await createEndpoint(
        db,
        box,
        { merchantId: request.merchantId, url: url.href, eventTypes, enabled: request.body.enabled ?? true },
        at,
      )
      return reply.code(201).send({ ...endpointView(created.row, at), secret: created.secret })
    },
  )

  app.get(
    '/api/webhook-endpoints',
    { schema: { summary: "The merchant's webhook endpoints", response: answers[200] } },
    async (request) => {
      const rows = await db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('merchant_id', '=', request.merchantId)
        .orderBy('created_at')
        .execute()
      const at = now()
      return { items: rows.map((row) => endpointView(row, at)) }
    },
  )

  app.get(
    '/api/webhook-endpoints/:id',
    { schema: { summary: 'One webhook endpoint', params: IdParams, response: answers[200] } },
    async (request) => endpointView(await findEndpoint(db, request.merchantId, request.params.id), now()),
  )

  app.patch(
    '/api/webhook-endpoints/:id',
    {
      schema: {
        summary: 'Enable or disable a webhook endpoint (enabling clears the reason it was disabled)',
        params: IdParams,
        body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }),
        response: answers[200],
      },
    },
    async (request) => {
      await setEnabled(db, request.merchantId, request.params.id, request.body.enabled, now())
      return endpointView(await findEndpoint(db, request.merchantId, request.params.id), now())
    },
  )

  app.delete(
    '/api/webhook-endpoints/:id',
    {
      schema: {
        summary: 'Delete a webhook endpoint and its deliveries',
        params: IdParams,
        response: answers[204],
      },
    },
    async (request, reply) => {
      await deleteEndpoint(db, request.merchantId, request.params.id)
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/api/webhook-endpoints/:id/roll-secret',
    {
      schema: {
        summary: 'A new signing secret, shown once; the previous one keeps signing for the grace period',
        params: IdParams,
        response: answers[200],
      },
    },
    async (request) => {
      const rolled = await rollSecret(
        db,
        box,
        request.merchantId,
        request.params.id,
        options.secretGraceMs,
        now(),
      )
      return {
        secret: rolled.secret,
        previousSecretValidUntil: new Date(rolled.previousValidUntil).toISOString(),
      }
    },
  )

  app.post(
    '/api/webhook-endpoints/:id/redeliver-failed',
    {
      schema: {
        summary: 'Send every FAILED delivery of the endpoint again',
        params: IdParams,
        response: answers[202],
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send({ requeued: await redeliverFailed(db, request.merchantId, request.params.id, now()) }),
  )

  app.get(
    '/api/webhook-deliveries',
    {
      schema: {
        summary: "The merchant's webhook deliveries, newest first (attempts, last status, latency, next try)",
        querystring: DeliveryQuery,
        response: answers[200],
      },
    },
    async (request) => {
      const { endpointId, eventId, state, limit } = request.query
      if (endpointId !== undefined) await findEndpoint(db, request.merchantId, endpointId)
      return {
        items: await listDeliveries(db, request.merchantId, {
          endpointId,
          eventId,
          state,
          limit: limit === undefined ? 50 : Math.min(Number(limit), 500),
        }),
      }
    },
  )

  app.get(
    '/api/webhook-deliveries/:id',
    {
      schema: {
        summary: 'One webhook delivery with every attempt',
        params: IdParams,
        response: answers[200],
      },
    },
    async (request) => deliveryWithAttempts(db, request.merchantId, request.params.id),
  )

  app.post(
    '/api/webhook-deliveries/:id/redeliver',
    { schema: { summary: 'Send one delivery again now', params: IdParams, response: answers[202] } },
    async (request, reply) => {
      await redeliver(db, request.merchantId, request.params.id, now())
      return reply.code(202).send(await deliveryWithAttempts(db, request.merchantId, request.params.id))
    },
  )
}
