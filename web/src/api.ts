import type { SessionSecrets } from './session.ts'

/** A problem+json answer (or a failure to reach the API), with what the user should do. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string

  constructor(status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

export type Credential = 'admin' | 'merchant'

interface Problem {
  code?: string
  detail?: string
  title?: string
}

/**
 * The dashboard's one HTTP client: every call goes to the API origin (the gateway), with the
 * bearer secret the call needs taken from the session, never from the URL.
 */
export class ApiClient {
  readonly origin: string
  readonly #secrets: SessionSecrets

  constructor(origin: string, secrets: SessionSecrets) {
    this.origin = origin.replace(/\/+$/, '')
    this.#secrets = secrets
  }

  async call<T>(
    credential: Credential,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; headers: Headers; body: T }> {
    const secrets = this.#secrets.get()
    const secret = credential === 'admin' ? secrets.adminToken : secrets.merchantKey
    if (secret === '')
      throw new ApiError(
        0,
        'NO_CREDENTIAL',
        credential === 'admin'
          ? 'Enter the admin token (ADMIN_TOKEN) at the top of the page.'
          : 'Enter a merchant API key at the top of the page, or create a demo merchant.',
      )
    const headers: Record<string, string> = { authorization: `Bearer ${secret}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await fetch(`${this.origin}${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
        signal: AbortSignal.timeout(10_000),
      })
    } catch (error) {
      throw new ApiError(
        0,
        'UNREACHABLE',
        `The API at ${this.origin} does not answer (${(error as Error).message}). Is the gateway running (payrail up)?`,
      )
    }
    const text = await response.text()
    const html = response.headers.get('content-type')?.startsWith('text/html') === true
    const parsed: unknown = text === '' ? undefined : html && response.ok ? text : safeJson(text)
    if (!response.ok) {
      const problem = (parsed ?? {}) as Problem
      const code = problem.code ?? `HTTP_${response.status}`
      throw new ApiError(response.status, code, explain(response.status, code, problem, credential))
    }
    return { status: response.status, headers: response.headers, body: parsed as T }
  }

  get<T>(credential: Credential, path: string): Promise<T> {
    return this.call<T>(credential, 'GET', path).then((answer) => answer.body)
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return { detail: text.slice(0, 200) }
  }
}

function explain(status: number, code: string, problem: Problem, credential: Credential): string {
  const detail = problem.detail ?? problem.title ?? `HTTP ${status}`
  if (status === 401)
    return credential === 'admin'
      ? `The admin token was refused (${code}). Check ADMIN_TOKEN and enter it again.`
      : `The merchant key was refused (${code}). Enter a valid key or create a demo merchant.`
  if (status === 404 && code === 'HTTP_404')
    return 'This endpoint does not exist on the API yet (is the api up to date?).'
  return `${detail} (${code})`
}
