import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import { resolve } from 'node:path'
import cors from '@fastify/cors'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import { dashboardFileHeaders } from '../http/csp.ts'
import { registerProblemHandlers } from '../http/problem.ts'
import { type ReadinessCheck, registerOperationalRoutes } from '../observability/health.ts'
import type { Logger } from '../observability/logger.ts'
import { createRoleServer } from '../observability/server.ts'
import { logAccess } from './access-log.ts'
import {
  answerClientTimeouts,
  type ClientLimitsOptions,
  clientServerOptions,
  resolveClientLimits,
} from './client-limits.ts'
import { CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS } from './cors.ts'
import { createForwardHandler, isForwarded } from './forward-handler.ts'
import type { Forwarder } from './forwarder.ts'
import { requestIdOf } from './headers.ts'
import type { GatewayMetrics } from './metrics.ts'
import type { RateLimiter } from './rate-limit/limiter.ts'

/** Beside its own, the limits on each client connection (client-limits.ts). */
export interface GatewayServerOptions extends ClientLimitsOptions {
  logger: Logger
  registry: Registry
  metrics: GatewayMetrics
  forwarder: Forwarder
  limiter: RateLimiter
  /** Dependencies `/readyz` checks (an available instance per upstream, Redis when failing closed). */
  readiness: ReadinessCheck[]
  /** Largest request body forwarded. Default: 16384 bytes (GATEWAY_BODY_LIMIT_BYTES). */
  bodyLimitBytes?: number
  /** Browser origins allowed by CORS. Default: none (GATEWAY_CORS_ORIGINS). */
  corsOrigins?: string[]
  /** Built dashboard served at `/` when the folder exists. Default: none (GATEWAY_DASHBOARD_DIR). */
  dashboardDir?: string | undefined
  /** One log line per request. Default: true. */
  accessLog?: boolean
  /** Networks allowed to reach `/api/admin/**`. Default: 127.0.0.0/8 and ::1 (GATEWAY_ADMIN_ALLOW). */
  adminAllow?: string[]
}

const OPERATIONAL = new Set(['/healthz', '/readyz', '/metrics'])

/** A route id for requests the gateway answers itself: fixed names, never the raw path. */
function ownRouteId(request: FastifyRequest): string {
  const url = request.routeOptions.url
  if (url === undefined) return 'unmatched'
  if (OPERATIONAL.has(url)) return url.slice(1)
  if (request.method === 'OPTIONS') return 'preflight'
  return 'dashboard'
}

/**
 * The gateway's HTTP server, not yet listening: forwarded paths go to the forward handler on
 * Node's request objects (see forward-handler.ts for why), everything else to Fastify: the
 * operational routes, the dashboard's files, CORS preflights and 404s.
 */
export async function buildGatewayServer(options: GatewayServerOptions): Promise<FastifyInstance> {
  const { metrics, logger } = options
  const accessLog = options.accessLog ?? true
  const corsOrigins = options.corsOrigins ?? []
  const limits = resolveClientLimits({
    headersTimeoutMs: options.headersTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    maxConnections: options.maxConnections,
    connectionsCheckingIntervalMs: options.connectionsCheckingIntervalMs,
  })
  let closing = false
  const forward = createForwardHandler({
    forwarder: options.forwarder,
    limiter: options.limiter,
    metrics,
    logger,
    bodyLimitBytes: options.bodyLimitBytes,
    corsOrigins,
    accessLog,
    closing: () => closing,
    adminAllow: options.adminAllow,
  })

  const app = createRoleServer({
    logger,
    bodyLimit: options.bodyLimitBytes ?? 16_384,
    fastify: {
      genReqId: (raw) => requestIdOf(raw.headers['x-request-id']),
      return503OnClosing: true,
      serverFactory: (fastifyHandler) => {
        const server = createServer(clientServerOptions(limits), (request, response) => {
          // Preflights stay with @fastify/cors.
          if (request.method !== 'OPTIONS' && isForwarded(request.url ?? '/')) void forward(request, response)
          else fastifyHandler(request, response)
        })
        server.maxConnections = limits.maxConnections
        answerClientTimeouts(server)
        return server
      },
    },
  })
  app.addHook('preClose', async () => {
    closing = true
  })
  registerProblemHandlers(app)

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  app.addHook('onResponse', async (request, reply) => {
    const route = ownRouteId(request)
    metrics.request(route, request.method, reply.statusCode, reply.elapsedTime / 1000)
    if (accessLog && logger.isLevelEnabled('info')) {
      logAccess(logger, {
        requestId: request.id,
        method: request.method,
        url: request.url,
        route,
        status: reply.statusCode,
        ms: reply.elapsedTime,
        client: request.ip,
      })
    }
  })

  if (corsOrigins.length > 0) {
    await app.register(cors, {
      origin: corsOrigins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: 600,
      strictPreflight: true,
    })
  }

  registerOperationalRoutes(app, { registry: options.registry, checks: options.readiness })

  if (options.dashboardDir !== undefined && existsSync(options.dashboardDir)) {
    // Same origin as the API here, so the app may connect to 'self' only.
    await app.register(fastifyStatic, {
      root: resolve(options.dashboardDir),
      prefix: '/',
      wildcard: true,
      setHeaders: dashboardFileHeaders("'self'"),
    })
  }
  return app
}
