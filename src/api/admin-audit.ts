import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { type AuditEntry, recordAdminOutcome, recordAdminRequest } from '../db/admin-audit.ts'
import type { Database } from '../db/schema.ts'
import { newId } from '../domain/ids.ts'
import { assertAdmin } from './auth.ts'

/** What a route touched, for the audit: set from the validated request before the action runs. */
export type AuditTarget = (request: FastifyRequest) => string | undefined

declare module 'fastify' {
  interface FastifyContextConfig {
    auditTarget?: AuditTarget
  }
}

const ACTOR_NAME = /^[\w.@-]{1,64}$/
const SANE_HEADER = /^[\w.:, [\]-]{1,200}$/

function clip(text: string, length: number): string {
  return text.length <= length ? text : text.slice(0, length)
}

/** Where the request came from: the client address the gateway saw, and the peer that sent it here. */
function sourceOf(request: FastifyRequest): string {
  const forwarded = request.headers['x-forwarded-for']
  const peer = request.socket.remoteAddress ?? 'unknown'
  return typeof forwarded === 'string' && SANE_HEADER.test(forwarded)
    ? clip(`${forwarded} via ${peer}`, 300)
    : peer
}

/**
 * The operations plane's guard and audit, as hooks on its routes: every request is checked
 * against ADMIN_TOKEN and leaves a row in admin_audit (who, what, when, from where, how it
 * ended), refused ones included. The row is written before the action runs, so an action whose
 * audit cannot be written does not run; the status is added when the answer has gone.
 */
export function guardAndAudit(
  app: FastifyInstance,
  options: { adminToken: string | undefined; db: Kysely<Database> },
): void {
  // Which token acted, without storing it: a rotation shows as a new fingerprint.
  const fingerprint =
    options.adminToken === undefined
      ? undefined
      : createHash('sha256').update(options.adminToken).digest('hex').slice(0, 8)
  const entries = new WeakMap<FastifyRequest, { entry: AuditEntry; recorded: boolean }>()

  app.addHook('onRequest', async (request) => {
    const requestId = request.headers['x-request-id']
    const entry: AuditEntry = {
      id: newId(),
      at: Date.now(),
      actor: 'unauthenticated',
      action: clip(`${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`, 200),
      target: null,
      source: sourceOf(request),
      request_id: typeof requestId === 'string' && ACTOR_NAME.test(requestId) ? requestId : request.id,
      status: null,
    }
    entries.set(request, { entry, recorded: false })
    assertAdmin(options.adminToken, request.headers.authorization)
    const named = request.headers['x-admin-actor']
    const name = typeof named === 'string' && ACTOR_NAME.test(named) ? named : 'admin'
    entry.actor = `${name} (token ${fingerprint})`
  })

  app.addHook('preHandler', async (request) => {
    const audit = entries.get(request)
    if (audit === undefined) return
    const target = request.routeOptions.config.auditTarget?.(request)
    audit.entry.target = target === undefined ? null : clip(target, 200)
    await recordAdminRequest(options.db, audit.entry)
    audit.recorded = true
  })

  app.addHook('onResponse', async (request, reply) => {
    const audit = entries.get(request)
    if (audit === undefined) return
    try {
      if (audit.recorded) await recordAdminOutcome(options.db, audit.entry.id, reply.statusCode)
      else await recordAdminRequest(options.db, { ...audit.entry, status: reply.statusCode })
    } catch (error) {
      request.log.error({ err: error, auditId: audit.entry.id }, 'the admin audit row could not be completed')
    }
  })
}
