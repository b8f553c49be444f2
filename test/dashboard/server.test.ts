import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { buildDashboardServer } from '../../src/dashboard/server.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createMetricsRegistry } from '../../src/observability/metrics.ts'

function builtApp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'payrail-dashboard-build-'))
  mkdirSync(join(dir, 'assets'))
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><script type="module" src="./assets/app.js"></script>',
  )
  writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)')
  return dir
}

const logger = createLogger({ role: 'dashboard', level: 'silent', format: 'json' })

test('payrail dashboard serves the build with a CSP that connects only to the API, and tells the app where the API is', {
  timeout: 10_000,
}, async (t) => {
  const app = await buildDashboardServer({
    logger,
    registry: createMetricsRegistry('dashboard'),
    dir: builtApp(),
    apiOrigin: 'http://127.0.0.1:8080/ignored-path',
  })
  t.after(() => app.close())
  for (const path of ['/', '/assets/app.js']) {
    const answer = await app.inject({ method: 'GET', url: path })
    assert.equal(answer.statusCode, 200, path)
    const csp = String(answer.headers['content-security-policy'])
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self';/)
    assert.match(csp, /connect-src 'self' http:\/\/127\.0\.0\.1:8080;/, 'the origin only, no path')
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/)
    assert.equal(answer.headers['x-frame-options'], 'DENY')
  }
  const config = await app.inject({ method: 'GET', url: '/config.json' })
  assert.deepEqual(config.json(), { apiOrigin: 'http://127.0.0.1:8080' })
  assert.equal(config.headers['cache-control'], 'no-store')
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  const missing = await app.inject({ method: 'GET', url: '/nothing.js' })
  assert.equal(missing.statusCode, 404)
})

test('payrail dashboard refuses to start without a build, saying what to do', {
  timeout: 10_000,
}, async () => {
  await assert.rejects(
    buildDashboardServer({
      logger,
      registry: createMetricsRegistry('dashboard'),
      dir: mkdtempSync(join(tmpdir(), 'payrail-dashboard-empty-')),
      apiOrigin: 'http://127.0.0.1:8080',
    }),
    (error: Error & { code?: string }) =>
      error.code === 'DEPENDENCY_MISSING' && /build the dashboard/.test(error.message),
  )
})
