import swagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import type { Registry } from 'prom-client'
import type { Database } from '../db/schema.ts'
import { registerProblemHandlers } from '../http/problem.ts'
import { type ReadinessCheck, registerOperationalRoutes } from '../observability/health.ts'
import type { Logger } from '../observability/logger.ts'
import { createRoleServer } from '../observability/server.ts'
import type { DeadLetterTopicOptions } from '../outbox/consumer-dead-letters.ts'
import type { BreakerState } from '../runtime/breaker.ts'
import { type Admission, registerAdmission } from './admission.ts'
import { MerchantAuthenticator } from './auth.ts'
import type { ApiMetrics } from './metrics.ts'
import type { PaymentReads } from './payment-reads.ts'
import type { PaymentService } from './payment-service.ts'
import { adminRoutes } from './routes/admin.ts'
import { type OperationsRoutesOptions, operationsRoutes } from './routes/operations.ts'
import { paymentRoutes } from './routes/payments.ts'
import { type WebhookRoutesOptions, webhookRoutes } from './routes/webhooks.ts'

export interface ApiServerOptions {
  logger: Logger
  registry: Registry
  metrics: ApiMetrics
  db: Kysely<Database>
  service: PaymentService
  reads: PaymentReads
  readiness: ReadinessCheck[]
  breakers: () => Record<string, BreakerState>
  adminToken?: string | undefined
  /** The views of the operations plane that reach beyond the database (roles, Kafka, load runs); without them those routes are not served. */
  operations?: Omit<OperationsRoutesOptions, 'adminToken' | 'db' | 'deadLetters'>
  /** Where the admin endpoints read the workers' dead letters (payment.dlq). Default: none (only the relay's are listed). */
  deadLetters?: DeadLetterTopicOptions
  /** Largest accepted body. Default: 16 KiB. */
  bodyLimit?: number
  /** Largest amount of a payment in minor units. */
  maxAmount: number
  /** Load shedding; every request is admitted without one. */
  admission?: Admission
  /** Merchant webhook endpoints and their log; without it those routes are absent. */
  webhooks?: Omit<WebhookRoutesOptions, 'db' | 'auth'>
}

/** The payment API as a Fastify app, not yet listening (tests drive it with `inject` or a real port). */
export async function buildApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const app = createRoleServer({
    logger: options.logger,
    bodyLimit: options.bodyLimit ?? 16 * 1024,
    fastify: {
      // Validation never coerces ("100" is not an amount) and reports every problem at once.
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
      return503OnClosing: true,
    },
  })
  registerProblemHandlers(app)
  if (options.admission !== undefined) registerAdmission(app, options.admission)
  app.addHook('onResponse', async (request, reply) => {
    options.metrics.request(
      request.routeOptions.url ?? 'unmatched',
      request.method,
      reply.statusCode,
      reply.elapsedTime / 1000,
    )
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'payrail payment API',
        version: '1',
        description:
          'Authorize, capture and refund card payments. Every change commits the payment and its outbox event in one transaction. Errors are application/problem+json with a stable `code`.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  })
  registerOperationalRoutes(app, { registry: options.registry, checks: options.readiness })
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  const auth = new MerchantAuthenticator({ db: options.db })
  await app.register(paymentRoutes, {
    service: options.service,
    reads: options.reads,
    auth,
    maxAmount: options.maxAmount,
  })
  if (options.webhooks !== undefined)
    await app.register(webhookRoutes, { ...options.webhooks, db: options.db, auth })
  await app.register(adminRoutes, {
    adminToken: options.adminToken,
    db: options.db,
    breakers: options.breakers,
    deadLetters: options.deadLetters,
  })
  await app.register(operationsRoutes, {
    ...options.operations,
    adminToken: options.adminToken,
    db: options.db,
    deadLetters: options.deadLetters,
  })
  return app
}
