import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import { API_KEY_PREFIX_LENGTH, apiKeyFrom, isWellFormedApiKey } from '../domain/api-keys.ts'
import { PayrailError } from '../domain/errors.ts'
import { newId } from '../domain/ids.ts'
import type { Database } from './schema.ts'

const MERCHANT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/

function assertMerchantId(id: string): void {
  if (!MERCHANT_ID.test(id)) {
    throw new PayrailError(
      'VALIDATION_FAILED',
      `merchant id ${JSON.stringify(id)} must be 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit`,
    )
  }
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

/** Where a key can be found again: `prk_` and 8 random characters, shown to operators. */
export function keyPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX_LENGTH)
}

export interface IssuedKey {
  merchantId: string
  /** The whole key; shown once, never stored. */
  key: string
  prefix: string
}

/** Creates the merchant if it is new and issues it a new API key. */
export async function issueApiKey(
  db: Kysely<Database>,
  merchantId: string,
  name = merchantId,
): Promise<IssuedKey> {
  assertMerchantId(merchantId)
  const now = Date.now()
  const key = apiKeyFrom(randomBytes(32).toString('base64url'))
  await db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('merchants')
      .select('id')
      .where('id', '=', merchantId)
      .executeTakeFirst()
    if (existing === undefined)
      await trx.insertInto('merchants').values({ id: merchantId, name, created_at: now }).execute()
    await trx
      .insertInto('api_keys')
      .values({
        id: newId(),
        merchant_id: merchantId,
        prefix: keyPrefix(key),
        key_hash: hashKey(key),
        created_at: now,
        revoked_at: null,
      })
      .execute()
  })
  return { merchantId, key, prefix: keyPrefix(key) }
}

/** Revokes the key with this prefix; returns its merchant, or undefined when no active key has it. */
export async function revokeApiKey(db: Kysely<Database>, prefix: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'merchant_id'])
    .where('prefix', '=', prefix)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  if (row === undefined) return undefined
  await db.updateTable('api_keys').set({ revoked_at: Date.now() }).where('id', '=', row.id).execute()
  return row.merchant_id
}

/** Revokes every active key of a merchant (used to rotate the demo merchant's key). */
export async function revokeMerchantKeys(db: Kysely<Database>, merchantId: string): Promise<number> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: Date.now() })
    .where('merchant_id', '=', merchantId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}

/**
 * The merchant of an active key, or undefined. The key is found by its prefix and compared by
 * hash in constant time, so response timing tells nothing about how much of a guess was right.
 */
export async function merchantForKey(db: Kysely<Database>, key: string): Promise<string | undefined> {
  // A guess that cannot be a key costs no lookup.
  if (!isWellFormedApiKey(key)) return undefined
  const row = await db
    .selectFrom('api_keys')
    .select(['merchant_id', 'key_hash'])
    .where('prefix', '=', keyPrefix(key))
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  if (row === undefined) return undefined
  const given = Buffer.from(hashKey(key), 'hex')
  const stored = Buffer.from(row.key_hash, 'hex')
  return given.length === stored.length && timingSafeEqual(given, stored) ? row.merchant_id : undefined
}

export interface MerchantSummary {
  merchantId: string
  name: string
  createdAt: string
  /** Prefixes of its keys not revoked; never a key or its hash. */
  activeKeys: string[]
}

/** Merchants by id (at most `limit`) with their active keys' prefixes, for the operations plane. */
export async function listMerchants(db: Kysely<Database>, limit = 500): Promise<MerchantSummary[]> {
  const merchants = await db
    .selectFrom('merchants')
    .select(['id', 'name', 'created_at'])
    .orderBy('id')
    .limit(limit)
    .execute()
  if (merchants.length === 0) return []
  const keys = await db
    .selectFrom('api_keys')
    .select(['merchant_id', 'prefix'])
    .where('revoked_at', 'is', null)
    .where(
      'merchant_id',
      'in',
      merchants.map((m) => m.id),
    )
    .orderBy('created_at')
    .execute()
  return merchants.map((m) => ({
    merchantId: m.id,
    name: m.name,
    createdAt: new Date(Number(m.created_at)).toISOString(),
    activeKeys: keys.filter((k) => k.merchant_id === m.id).map((k) => k.prefix),
  }))
}
