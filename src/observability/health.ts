import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { withDeadline } from '../runtime/deadline.ts'
import type { Logger } from './logger.ts'
import { createRoleServer } from './server.ts'

/** A dependency that `/readyz` checks; `check` throws or rejects when it is unreachable. */
export interface ReadinessCheck {
  name: string
  check: () => Promise<void>
}

export interface OperationalRoutesOptions {
  registry: Registry
  checks: ReadinessCheck[]
  /** Each check's time limit, so that a hung dependency answers "not ready" rather than hanging. Default: 2000. */
  checkTimeoutMs?: number
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<{ ok: boolean; error?: string }> {
  try {
    await withDeadline(check.check(), timeoutMs, () => {
      throw new Error(`no answer within ${timeoutMs} ms`)
    })
    return { ok: true }
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) }
  }
}

/**
 * Adds `/healthz` (the process is alive), `/readyz` (every dependency answered) and `/metrics`
 * to any Fastify app. These are the only routes that need no credentials.
 */
export function registerOperationalRoutes(app: FastifyInstance, options: OperationalRoutesOptions): void {
  const timeoutMs = options.checkTimeoutMs ?? 2000
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const results = await Promise.all(options.checks.map((check) => runCheck(check, timeoutMs)))
    const checks = Object.fromEntries(options.checks.map((check, i) => [check.name, results[i]]))
    const ready = results.every((result) => result.ok)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks })
  })
  app.get('/metrics', async (_request, reply) => {
    const body = await options.registry.metrics()
    return reply.type(options.registry.contentType).send(body)
  })
}

export interface OperationalServerOptions extends OperationalRoutesOptions {
  host: string
  port: number
  logger: Logger
}

/** A server with only the operational routes, for roles that have no HTTP API of their own (relay, worker). */
export async function startOperationalServer(options: OperationalServerOptions): Promise<FastifyInstance> {
  const app = createRoleServer({ logger: options.logger })
  registerOperationalRoutes(app, options)
  await app.listen({ host: options.host, port: options.port })
  return app
}
