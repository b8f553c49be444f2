// The original system's first k6 run: authorize only, arrival rate ramping to 400 requests/s.
//   PAYRAIL_URL=http://127.0.0.1:8080 PAYRAIL_KEY=prk_… k6 run deploy/k6/authorize-ramp.ts
// The same load as `payrail load authorize --preset ramp-400`.
import type { Options } from 'k6/options'
import { authorize, keyFor, loadKeys } from './common.ts'

const keys = loadKeys()

export const options: Options = {
  scenarios: {
    authorize: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      preAllocatedVUs: 200,
      maxVUs: 1000,
      stages: [
        { target: 400, duration: '30s' },
        { target: 400, duration: '60s' },
        { target: 0, duration: '10s' },
      ],
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
