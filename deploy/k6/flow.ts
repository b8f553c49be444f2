// The full flow at a constant rate (PAYRAIL_RATE per second, default 50): authorize, capture,
// wait for CAPTURED, refund, wait for REFUNDED; the same load as `payrail load flow --rate 50`.
//   PAYRAIL_URL=http://127.0.0.1:8080 PAYRAIL_KEYS_FILE=keys.txt k6 run deploy/k6/flow.ts
import { check, sleep } from 'k6'
import http from 'k6/http'
import type { Options } from 'k6/options'
import { authorize, BASE_URL, keyFor, loadKeys } from './common.ts'

const keys = loadKeys()

export const options: Options = {
  scenarios: {
    flow: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.PAYRAIL_RATE ?? 50),
      timeUnit: '1s',
      duration: '60s',
      preAllocatedVUs: 500,
      maxVUs: 3000,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{step:authorize}': ['p(99)<1000'],
    dropped_iterations: ['count==0'],
  },
}

/** Polls the payment until it reaches `status` or `timeoutS` passes; whether it did. */
function waitFor(key: string, paymentId: string, status: string, timeoutS: number): boolean {
  const deadline = Date.now() + timeoutS * 1000
  while (Date.now() < deadline) {
    const response = http.get(`${BASE_URL}/api/payments/${paymentId}`, {
      headers: { authorization: `Bearer ${key}` },
      tags: { step: 'read' },
    })
    if (response.status === 200 && (response.json() as { status?: string }).status === status) return true
    sleep(0.25)
  }
  return false
}

export default function (): void {
  const key = keyFor(keys)
  const paymentId = authorize(key)
  if (paymentId === undefined) return
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  const capture = http.post(`${BASE_URL}/api/payments/capture/${paymentId}`, '{}', {
    headers,
    tags: { step: 'capture' },
  })
  check(capture, { 'capture 202': (r) => r.status === 202 })
  check(null, { captured: () => waitFor(key, paymentId, 'CAPTURED', 30) })
  const refund = http.post(
    `${BASE_URL}/api/payments/refund/${paymentId}`,
    JSON.stringify({ reason: 'k6 flow' }),
    {
      headers,
      tags: { step: 'refund' },
    },
  )
  check(refund, { 'refund 202': (r) => r.status === 202 })
  check(null, { refunded: () => waitFor(key, paymentId, 'REFUNDED', 30) })
}
