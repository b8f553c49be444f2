/**
 * The form of every API key payrail issues: `prk_`, eight random characters (with the prefix,
 * the 12 characters an operator sees and revokes by), `_`, and the 35 random characters left of
 * 32 random bytes in base64url. Knowing the form lets the gateway and the api turn away a guess
 * that could never be a key without a database lookup.
 */
const API_KEY = /^prk_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]{35}$/

/** The length of the public part of a key (`prk_` and eight characters). */
export const API_KEY_PREFIX_LENGTH = 12

/** Whether `key` has the form of an issued API key (it may still be unknown or revoked). */
export function isWellFormedApiKey(key: string): boolean {
  return key.length === 48 && API_KEY.test(key)
}

/** Builds a key from 43 base64url characters (32 random bytes). */
export function apiKeyFrom(random: string): string {
  return `prk_${random.slice(0, API_KEY_PREFIX_LENGTH - 4)}_${random.slice(API_KEY_PREFIX_LENGTH - 4, 43)}`
}
