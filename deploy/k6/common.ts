// Shared by the k6 presets: the target, the merchants' keys, and one authorize request.
// k6 runs TypeScript directly (k6 >= 0.52); `./payrail test` type-checks these files against
// @types/k6, since k6 itself cannot run on payrail's build machine.
import { check } from 'k6'
import exec from 'k6/execution'
import http from 'k6/http'

/** The gateway (or api) to load: PAYRAIL_URL, default http://127.0.0.1:8080. */
export const BASE_URL = __ENV.PAYRAIL_URL ?? 'http://127.0.0.1:8080'

/**
 * The merchants' API keys, one per line, from PAYRAIL_KEYS_FILE (e.g. written by
 * `payrail merchant create`), or the one key in PAYRAIL_KEY. Read once, in k6's init context.
 */
export function loadKeys(): string[] {
  const file = __ENV.PAYRAIL_KEYS_FILE
  const keys =
    file === undefined
      ? [__ENV.PAYRAIL_KEY ?? '']
      : open(file)
          .split('\n')
          .map((line) => line.trim())
          .filter((line) => line !== '')
  if (keys.length === 0 || keys[0] === '')
    throw new Error('set PAYRAIL_KEYS_FILE (one key per line) or PAYRAIL_KEY')
  return keys
}

/** Amounts that never end in 51, 52 or 53 (the simulator's decline endings). */
export function amount(n: number): number {
  const base = 1000 + (n % 40) * 100
  return base + 7
}

/** One authorize with a fresh idempotency key; returns the payment id when approved. */
export function authorize(key: string): string | undefined {
  const n = exec.scenario.iterationInTest
  const response = http.post(
    `${BASE_URL}/api/payments/authorize`,
    JSON.stringify({
      amount: amount(n),
      currency: 'KRW',
      idempotencyKey: `k6-${exec.vu.idInTest}-${n}-${Date.now()}`,
    }),
    {
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      tags: { step: 'authorize' },
    },
  )
  check(response, { 'authorize 201': (r) => r.status === 201 })
  if (response.status !== 201) return undefined
  const body = response.json() as { paymentId?: string; status?: string }
  return body.status === 'AUTHORIZED' ? body.paymentId : undefined
}

/** The key of the merchant this iteration acts for (merchants taken in turn). */
export function keyFor(keys: string[]): string {
  return keys[exec.scenario.iterationInTest % keys.length] as string
}
