/**
 * The HTTP side of a load run: one undici pool to the target, each answer reduced to the key the
 * report counts it under (`201`, `503 OVERLOADED`, `timeout`, `error`) and its parsed body.
 */
import { Pool } from 'undici'

export interface LoadRequest {
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  body?: string
}

export interface LoadAnswer {
  status: number
  /** `201`, `409 IDEMPOTENCY_CONFLICT`, `timeout` or `error`. */
  key: string
  body: unknown
}

export interface LoadClient {
  send(request: LoadRequest): Promise<LoadAnswer>
  close(): Promise<void>
}

export function createLoadClient(
  url: string,
  options: { connections: number; timeoutMs: number },
): LoadClient {
  const pool = new Pool(url, { connections: options.connections, pipelining: 1, keepAliveTimeout: 60_000 })
  return {
    async send(request) {
      try {
        const response = await pool.request({
          method: request.method,
          path: request.path,
          headers: request.headers ?? {},
          ...(request.body === undefined ? {} : { body: request.body }),
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
        })
        const text = await response.body.text()
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          body = undefined
        }
        const status = response.statusCode
        const code = status >= 200 && status < 300 ? '' : String((body as { code?: unknown })?.code ?? '')
        return { status, key: code === '' ? String(status) : `${status} ${code}`, body }
      } catch (error) {
        const code = (error as { code?: string }).code
        const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
        return { status: 0, key: timedOut ? 'timeout' : 'error', body: undefined }
      }
    },
    close: () => pool.close(),
  }
}
