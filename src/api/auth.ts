import { createHash, timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import { merchantForKey } from '../db/merchants.ts'
import type { Database } from '../db/schema.ts'
import { PayrailError } from '../domain/errors.ts'

export interface MerchantAuthOptions {
  db: Kysely<Database>
  /** How long a resolved key is trusted before it is looked up again; bounds how late a revocation bites. Default: 10000 ms. */
  cacheTtlMs?: number
  /** Keys kept in the cache. Default: 10000. */
  cacheSize?: number
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer ([^\s]+)$/.exec(header ?? '')
  return match?.[1]
}

/** Resolves `Authorization: Bearer <key>` to its merchant, with a short cache to keep the database off the hot path. */
export class MerchantAuthenticator {
  readonly #db: Kysely<Database>
  readonly #ttlMs: number
  readonly #size: number
  readonly #cache = new Map<string, { merchantId: string; until: number }>()

  constructor(options: MerchantAuthOptions) {
    this.#db = options.db
    this.#ttlMs = options.cacheTtlMs ?? 10_000
    this.#size = options.cacheSize ?? 10_000
  }

  async merchantOf(authorization: string | undefined): Promise<string> {
    const key = bearer(authorization)
    if (key === undefined)
      throw new PayrailError('UNAUTHORIZED', 'send the API key as Authorization: Bearer <key>')
    // The cache is keyed by the key's hash, so no key is held in memory longer than a request.
    const cacheKey = createHash('sha256').update(key).digest('base64')
    const now = Date.now()
    const cached = this.#cache.get(cacheKey)
    if (cached !== undefined && cached.until > now) return cached.merchantId
    const merchantId = await merchantForKey(this.#db, key)
    if (merchantId === undefined) throw new PayrailError('UNAUTHORIZED', 'the API key is unknown or revoked')
    if (this.#cache.size >= this.#size) this.#cache.clear()
    this.#cache.set(cacheKey, { merchantId, until: now + this.#ttlMs })
    return merchantId
  }
}

/** Checks the operations token in constant time; an unset ADMIN_TOKEN turns the operations endpoints off. */
export function assertAdmin(adminToken: string | undefined, authorization: string | undefined): void {
  if (adminToken === undefined) {
    throw new PayrailError('UNAUTHORIZED', 'operations endpoints are off: set ADMIN_TOKEN to use them')
  }
  const given = createHash('sha256')
    .update(bearer(authorization) ?? '')
    .digest()
  const wanted = createHash('sha256').update(adminToken).digest()
  if (!timingSafeEqual(given, wanted))
    throw new PayrailError('UNAUTHORIZED', 'the admin token is missing or wrong')
}
