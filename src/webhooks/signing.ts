import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** The header a delivery's signature travels in. */
export const SIGNATURE_HEADER = 'payrail-signature'

/** A new signing secret: `whsec_` and 32 random bytes in base64url (256 bits, as HMAC-SHA256 wants). */
export function newSigningSecret(random: (size: number) => Buffer = randomBytes): string {
  return `whsec_${random(32).toString('base64url')}`
}

/** HMAC-SHA256 of `<t>.<body>` in hex: the `v1` of the Stripe-style scheme merchants know. */
export function signatureOf(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
}

/**
 * `t=<unix seconds>,v1=<hex>[,v1=<hex>]`: one `v1` per valid secret, so that while a rolled
 * secret's grace period runs a receiver holding either the old or the new one verifies it.
 */
export function signatureHeader(secrets: readonly string[], timestamp: number, body: string): string {
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${signatureOf(secret, timestamp, body)}`)].join(
    ',',
  )
}

/**
 * What a receiver does (the README shows the same): parse the header, refuse a timestamp older
 * or newer than `toleranceS`, and compare every `v1` in constant time with its own HMAC.
 */
export function verifySignature(
  header: string | undefined,
  body: string,
  secret: string,
  nowS: number,
  toleranceS = 300,
): boolean {
  if (header === undefined) return false
  const parts = header.split(',').map((part) => part.split('=', 2) as [string, string | undefined])
  const t = Number(parts.find(([key]) => key === 't')?.[1])
  if (!Number.isInteger(t) || Math.abs(nowS - t) > toleranceS) return false
  const expected = Buffer.from(signatureOf(secret, t, body), 'hex')
  return parts.some(([key, value]) => {
    if (key !== 'v1' || value === undefined) return false
    const given = Buffer.from(value, 'hex')
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
}
