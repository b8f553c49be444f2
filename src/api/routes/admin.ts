import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import { issueApiKey, revokeApiKey } from '../../db/merchants.ts'
import type { Database } from '../../db/schema.ts'
import { PayrailError } from '../../domain/errors.ts'
import {
  type DeadLetterTopicOptions,
  isConsumerDeadLetterId,
  replayConsumerDeadLetters,
} from '../../outbox/consumer-dead-letters.ts'
import { replayDead } from '../../outbox/status.ts'
import type { BreakerState } from '../../runtime/breaker.ts'
import { guardAndAudit } from '../admin-audit.ts'
import { CreateMerchantBody, ProblemSchema } from '../schemas.ts'

export interface AdminRoutesOptions {
  adminToken: string | undefined
  db: Kysely<Database>
  breakers: () => Record<string, BreakerState>
  /** payment.dlq, for the workers' dead letters; without it only the relay's are listed. */
  deadLetters?: DeadLetterTopicOptions | undefined
}

/** Operations endpoints that act, behind ADMIN_TOKEN, every request audited (admin-audit.ts); the views the dashboard reads are in operations.ts. */
export async function adminRoutes(parent: FastifyInstance, options: AdminRoutesOptions): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  guardAndAudit(app, options)

  app.get(
    '/api/admin/breakers',
    {
      schema: {
        summary: 'State of the acquirer circuit breakers',
        response: {
          200: Type.Object({ acquirer: Type.Record(Type.String(), Type.String()) }),
          401: ProblemSchema,
        },
      },
    },
    async () => ({ acquirer: options.breakers() }),
  )

  app.post(
    '/api/admin/merchants',
    {
      config: { auditTarget: (request) => `merchant ${(request.body as { merchantId: string }).merchantId}` },
      schema: {
        summary: 'Create a merchant (if new) and issue it an API key, shown once',
        body: CreateMerchantBody,
        response: {
          201: Type.Object({ merchantId: Type.String(), apiKey: Type.String(), prefix: Type.String() }),
          400: ProblemSchema,
          401: ProblemSchema,
        },
      },
    },
    async (request, reply) => {
      const issued = await issueApiKey(options.db, request.body.merchantId, request.body.name)
      return reply
        .code(201)
        .send({ merchantId: issued.merchantId, apiKey: issued.key, prefix: issued.prefix })
    },
  )

  app.post(
    '/api/admin/keys/:prefix/revoke',
    {
      config: { auditTarget: (request) => `key ${(request.params as { prefix: string }).prefix}` },
      schema: {
        summary: 'Revoke the API key with this 12-character prefix',
        params: Type.Object({ prefix: Type.String({ pattern: '^prk_[A-Za-z0-9_-]{8}$' }) }),
        response: {
          200: Type.Object({ prefix: Type.String(), merchantId: Type.String() }),
          400: ProblemSchema,
          401: ProblemSchema,
          404: ProblemSchema,
        },
      },
    },
    async (request) => {
      const { prefix } = request.params
      const merchantId = await revokeApiKey(options.db, prefix)
      if (merchantId === undefined)
        throw new PayrailError('NOT_FOUND', `no active API key starts with ${prefix}`)
      return { prefix, merchantId }
    },
  )
  app.post(
    '/api/admin/dlq/replay',
    {
      config: {
        auditTarget: (request) => {
          const body = request.body as { eventId?: string; all?: boolean }
          return body.all === true ? 'all dead events' : `event ${body.eventId}`
        },
      },
      schema: {
        summary:
          "Put a dead event back in line for the relay (eventId), a worker's dead letter back on its topic (id: <partition>:<offset>), or all of them",
        body: Type.Object(
          {
            eventId: Type.Optional(Type.String({ minLength: 1, maxLength: 36 })),
            id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            all: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const { eventId, id, all } = request.body
      const given = [eventId !== undefined, id !== undefined, all === true].filter(Boolean).length
      if (given !== 1) throw new PayrailError('VALIDATION_FAILED', 'give one of eventId, id or all: true')
      const topic = options.deadLetters
      let replayed: number
      if (all === true) {
        replayed =
          (await replayDead(options.db, 'all')) +
          (topic === undefined ? 0 : await replayConsumerDeadLetters(options.db, 'all', topic))
      } else if (id !== undefined && isConsumerDeadLetterId(id)) {
        if (topic === undefined) throw new PayrailError('NOT_FOUND', `no dead letter ${id}`)
        replayed = await replayConsumerDeadLetters(options.db, { id }, topic)
      } else {
        replayed = await replayDead(options.db, { eventId: (eventId ?? id) as string })
      }
      if (replayed === 0 && all !== true)
        throw new PayrailError('NOT_FOUND', `no dead event ${eventId ?? id}`)
      return { replayed }
    },
  )
}
