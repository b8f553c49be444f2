import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import { type ErrorCode, errorCatalog, PayrailError } from '../domain/errors.ts'

/** RFC 9457 problem details plus the seed's `code`, `message` and `paymentId`. */
export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: ErrorCode
  message: string
  paymentId?: string
  errors?: { path: string; message: string }[]
}

export function problemOf(error: PayrailError, extra: Partial<Problem> = {}): Problem {
  const paymentId = error.details.paymentId
  return {
    type: `urn:payrail:error:${error.code}`,
    title: errorCatalog[error.code].title,
    status: error.status,
    detail: error.message,
    code: error.code,
    message: error.message,
    ...(typeof paymentId === 'string' ? { paymentId } : {}),
    ...extra,
  }
}

/** Retryable answers say when to come back (the breaker's half-open wait, or a second); others say nothing. */
export function retryAfterOf(error: PayrailError): string | undefined {
  if (error.retryable && (error.status === 503 || error.status === 409 || error.status === 429)) {
    return String(error.details.retryAfterSeconds ?? 1)
  }
  return undefined
}

async function sendProblem(
  reply: FastifyReply,
  error: PayrailError,
  extra: Partial<Problem> = {},
): Promise<void> {
  if (error.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer')
  const retryAfter = retryAfterOf(error)
  if (retryAfter !== undefined) reply.header('retry-after', retryAfter)
  await reply.code(error.status).type('application/problem+json').send(problemOf(error, extra))
}

/** Fastify's own request errors, translated into catalog codes. */
function translate(error: FastifyError): PayrailError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayrailError('PAYLOAD_TOO_LARGE', 'the request body is larger than the API accepts')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new PayrailError('UNSUPPORTED_MEDIA_TYPE', 'send the request body as application/json')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new PayrailError('VALIDATION_FAILED', 'the JSON request body is empty')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new PayrailError('VALIDATION_FAILED', `the request body is not valid JSON: ${error.message}`)
  }
  if (error instanceof SyntaxError || error.statusCode === 400) {
    return new PayrailError('VALIDATION_FAILED', `the request body is not valid JSON: ${error.message}`)
  }
  return undefined
}

/** Every error leaves the API as problem+json; only unexpected ones are logged as errors. */
export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error instanceof PayrailError) return sendProblem(reply, error)
    if (error.validation !== undefined) {
      const errors = error.validation.map((issue) => ({
        path: `${error.validationContext ?? 'body'}${issue.instancePath.replaceAll('/', '.')}`,
        message: issue.message ?? 'is invalid',
      }))
      const detail = errors.map((issue) => `${issue.path} ${issue.message}`).join('; ')
      return sendProblem(reply, new PayrailError('VALIDATION_FAILED', detail), { errors })
    }
    const translated = translate(error)
    if (translated !== undefined) return sendProblem(reply, translated)
    request.log.error({ err: error }, 'request failed')
    return sendProblem(
      reply,
      new PayrailError('INTERNAL', 'the request failed; it may be retried with the same idempotency key'),
    )
  })
  app.setNotFoundHandler(async (request, reply) =>
    sendProblem(
      reply,
      new PayrailError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  )
}
