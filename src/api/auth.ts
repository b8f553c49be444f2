import { createHash, timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import { merchantForKey } from '../db/merchants.ts'
import type { Database } from '../db/schema.ts'
import { isWellFormedApiKey } from '../domain/api-keys.ts'
import { PayrailError } from '../domain/errors.ts'

export interface MerchantAuthOptions {
  db: Kysely<Database>
  /** How long a resolved key is trusted before it is looked up again; bounds how late a revocation bites. Default: 10000 ms. */
  cacheTtlMs?: number
  /** Keys kept in the cache. Default: 10000. */
  cacheSize?: number
  /**
   * How long a key found unknown or revoked is answered 401 without asking the database again;
   * bounds how late a newly issued key starts to work. Default: 2000 ms.
   */
  negativeTtlMs?: number
  /** Unknown keys remembered, apart from the known ones so that a flood of guesses never evicts them. Default: 10000. */
  negativeCacheSize?: number
  /** The clock, in milliseconds. Default: Date.now. */
  now?: () => number
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
  readonly #unknown = new Map<string, number>()
  readonly #negativeTtlMs: number
  readonly #negativeSize: number
  readonly #now: () => number

  constructor(options: MerchantAuthOptions) {
    this.#db = options.db
    this.#ttlMs = options.cacheTtlMs ?? 10_000
    this.#size = options.cacheSize ?? 10_000
    this.#negativeTtlMs = options.negativeTtlMs ?? 2000
    this.#negativeSize = options.negativeCacheSize ?? 10_000
    this.#now = options.now ?? Date.now
  }

  async merchantOf(authorization: string | undefined): Promise<string> {
    const key = bearer(authorization)
    if (key === undefined)
      throw new PayrailError('UNAUTHORIZED', 'send the API key as Authorization: Bearer <key>')
    if (!isWellFormedApiKey(key)) throw new PayrailError('UNAUTHORIZED', 'the API key is unknown or revoked')
    // The cache is keyed by the key's hash, so no key is held in memory longer than a request.
    const cacheKey = createHash('sha256').update(key).digest('base64')
    const now = this.#now()
    const cached = this.#cache.get(cacheKey)
    if (cached !== undefined && cached.until > now) return cached.merchantId
    const unknownUntil = this.#unknown.get(cacheKey)
    if (unknownUntil !== undefined && unknownUntil > now)
      throw new PayrailError('UNAUTHORIZED', 'the API key is unknown or revoked')
    const merchantId = await merchantForKey(this.#db, key)
    if (merchantId === undefined) {
      if (this.#unknown.size >= this.#negativeSize) this.#unknown.clear()
      this.#unknown.set(cacheKey, now + this.#negativeTtlMs)
      throw new PayrailError('UNAUTHORIZED', 'the API key is unknown or revoked')
    }
    this.#unknown.delete(cacheKey)
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
