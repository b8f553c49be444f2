import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { freePort, startRole } from '../../support/processes.ts'
import { startUpstream, wellFormedKey } from '../helpers/gateway.ts'

test('payrail gateway runs as its own process, forwards to GATEWAY_UPSTREAM_API and stops cleanly on SIGTERM', async (t) => {
  const upstream = await startUpstream(t)
  const key = wellFormedKey('secret-x')
  const port = await freePort()
  const gateway = await startRole('gateway', port, {
    GATEWAY_PORT: String(port),
    GATEWAY_UPSTREAM_API: upstream.url,
    REDIS_URL: '',
  })
  t.after(() => gateway.stop('SIGKILL'))
  const response = await fetch(`${gateway.url}/api/payments/pay_1`, {
    headers: { authorization: `Bearer ${key}` },
  })
  assert.equal(response.status, 200)
  assert.equal(upstream.seen.length, 1)
  assert.equal((await fetch(`${gateway.url}/readyz`)).status, 200)
  assert.equal(await gateway.stop('SIGTERM'), 0)
  assert.match(gateway.output(), /gateway ready/)
  assert.match(gateway.output(), /"msg":"access"/)
  assert.ok(!gateway.output().includes(key))
})

test('a bad gateway setting stops start-up with a message naming it', () => {
  for (const [env, message] of [
    [
      { GATEWAY_ROUTE_TIMEOUTS: 'payments.nope=100' },
      /GATEWAY_ROUTE_TIMEOUTS names an unknown route "payments.nope"/,
    ],
    [
      { GATEWAY_RATE_LIMIT_READ: 'lots' },
      /GATEWAY_RATE_LIMIT_READ="lots": must be off or requests per window/,
    ],
    [
      { GATEWAY_UPSTREAM_API: 'api:8081' },
      /GATEWAY_UPSTREAM_API="api:8081": must be a comma-separated list of http\(s\) URLs/,
    ],
  ] as const) {
    const result = spawnSync(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), 'gateway'], {
      cwd: ROOT,
      env: { ...process.env, ...env, GATEWAY_PORT: '1' },
      encoding: 'utf8',
      timeout: 30_000,
    })
    assert.equal(result.status, 2, result.stderr)
    assert.match(result.stderr, message)
  }
})
