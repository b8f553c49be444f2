// The original system's second k6 run: authorize only, a constant 1,050 requests/s over many
// merchants (MERCHANT-1…1000 there; here the keys in PAYRAIL_KEYS_FILE, one per line).
//   PAYRAIL_URL=http://127.0.0.1:8080 PAYRAIL_KEYS_FILE=keys.txt k6 run deploy/k6/authorize-constant.ts
// The same load as `payrail load authorize --preset constant-1050`.
import type { Options } from 'k6/options'
import { authorize, keyFor, loadKeys } from './common.ts'

const keys = loadKeys()

export const options: Options = {
  scenarios: {
    authorize: {
      executor: 'constant-arrival-rate',
      rate: 1050,
      timeUnit: '1s',
      duration: '60s',
      preAllocatedVUs: 1000,
      maxVUs: 4000,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{step:authorize}': ['p(95)<300', 'p(99)<1000'],
    dropped_iterations: ['count==0'],
  },
}

export default function (): void {
  authorize(keyFor(keys))
}
