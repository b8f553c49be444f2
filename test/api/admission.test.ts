import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { Admission, registerAdmission } from '../../src/api/admission.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { registerProblemHandlers } from '../../src/http/problem.ts'
import { createRoleServer } from '../../src/observability/server.ts'
import { quietLogger } from '../../support/logger.ts'
import { until } from '../helpers/until.ts'

/** An app whose /work requests hold their slot until `release()`, behind `admission`. */
async function app(t: TestContext, admission: Admission) {
  const server = createRoleServer({ logger: quietLogger() })
  registerProblemHandlers(server)
  registerAdmission(server, admission)
  const held: (() => void)[] = []
  let started = 0
  server.get('/work', async () => {
    started++
    await new Promise<void>((resolve) => held.push(resolve))
    return { ok: true }
  })
  server.get('/healthz', async () => ({ status: 'ok' }))
  await server.listen({ host: '127.0.0.1', port: 0 })
  t.after(async () => {
    for (const release of held.splice(0)) release()
    await server.close()
  })
  const address = server.server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${address.port}`,
    release: () => held.shift()?.(),
    started: () => started,
  }
}

test('beyond in-flight and queue limits the api answers 503 OVERLOADED at once, with Retry-After; the operational routes still answer', async (t) => {
  const rejected: string[] = []
  const admission = new Admission(
    { maxInFlight: 2, maxQueued: 1, queueTimeoutMs: 5000 },
    { rejected: (reason) => rejected.push(reason) },
  )
  const api = await app(t, admission)
  const first = fetch(`${api.url}/work`)
  const second = fetch(`${api.url}/work`)
  await until('two requests in progress', () => api.started() === 2)
  const queued = fetch(`${api.url}/work`)
  await until('one request queued', () => admission.waiting === 1)

  const refused = await fetch(`${api.url}/work`)
  assert.equal(refused.status, 503)
  assert.equal(refused.headers.get('retry-after'), '1')
  assert.equal(refused.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  assert.equal(((await refused.json()) as { code: string }).code, 'OVERLOADED')
  assert.deepEqual(rejected, ['queue_full'])
  assert.equal((await fetch(`${api.url}/healthz`)).status, 200, 'health is never shed')

  api.release()
  assert.equal((await first).status, 200)
  await until('the queued request admitted', () => api.started() === 3)
  assert.equal(admission.inFlight, 2)
  api.release()
  api.release()
  assert.deepEqual([(await second).status, (await queued).status], [200, 200])
  await until('every slot given back', () => admission.inFlight === 0)
})

test('a request that waits past the queue timeout is answered OVERLOADED; one whose client left keeps its slot until its handler is done', async (t) => {
  const admission = new Admission({ maxInFlight: 1, maxQueued: 5, queueTimeoutMs: 50 })
  const api = await app(t, admission)
  const controller = new AbortController()
  const aborted = fetch(`${api.url}/work`, { signal: controller.signal }).catch((error: Error) => error)
  await until('one request in progress', () => api.started() === 1)
  const late = await fetch(`${api.url}/work`)
  assert.equal(late.status, 503)
  assert.equal(((await late.json()) as { code: string }).code, 'OVERLOADED')
  controller.abort()
  assert.equal(((await aborted) as Error).name, 'AbortError')
  // However soon the server notices the client gone, the abandoned request keeps its slot.
  assert.equal((await fetch(`${api.url}/work`)).status, 503, 'the abandoned request still holds its slot')
  assert.equal(admission.inFlight, 1)
  api.release()
  await until('the finished handler gave its slot back', () => admission.inFlight === 0)
  const next = fetch(`${api.url}/work`)
  await until('the next request admitted', () => api.started() === 2)
  api.release()
  assert.equal((await next).status, 200)
})

test('admission limits are validated', () => {
  assert.throws(
    () => new Admission({ maxInFlight: 0 }),
    (error) => hasErrorCode(error, 'CONFIG_INVALID') && /admission.maxInFlight=0/.test(String(error)),
  )
})
