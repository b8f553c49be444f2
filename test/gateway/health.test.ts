import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { HealthChecker } from '../../src/gateway/health.ts'
import type { Upstream } from '../../src/gateway/upstream.ts'
import { UpstreamPool } from '../../src/gateway/upstream-pool.ts'
import { freePort } from '../../support/processes.ts'
import { startBlackhole, startUpstream } from '../helpers/gateway.ts'

function checked(t: TestContext, urls: string[], timeoutMs = 200) {
  const pool = new UpstreamPool({ name: 'api', urls })
  const health = new HealthChecker([pool], { intervalMs: 60_000, timeoutMs })
  t.after(async () => {
    await health.close()
    await pool.close()
  })
  return { pool, health, instances: pool.instances as Upstream[] }
}

test('active checks on /readyz take an instance out while it is not ready and bring it back', async (t) => {
  const a = await startUpstream(t)
  const b = await startUpstream(t)
  const { pool, health, instances } = checked(t, [a.url, b.url])
  const changes: string[] = []
  pool.onHealthChange = (upstream, healthy) =>
    changes.push(`${upstream.origin === a.url ? 'a' : 'b'}:${healthy}`)
  await health.checkAll()
  assert.deepEqual(
    instances.map((instance) => instance.available),
    [true, true],
  )
  a.readyStatus = 503
  await health.checkAll()
  assert.deepEqual(
    instances.map((instance) => instance.available),
    [false, true],
  )
  assert.equal(health.ready(), true, 'one available instance is enough')
  b.readyStatus = 500
  await health.checkAll()
  assert.equal(health.ready(), false)
  a.readyStatus = 200
  b.readyStatus = 200
  await health.checkAll()
  assert.equal(health.ready(), true)
  assert.deepEqual(changes, ['a:false', 'b:false', 'a:true', 'b:true'])
  assert.equal(a.seen.length + b.seen.length, 0, 'checks are not counted as traffic')
})

test('an instance that is down or hangs fails its check within the timeout', async (t) => {
  const hole = await startBlackhole(t)
  const { health, instances } = checked(t, [`http://127.0.0.1:${await freePort()}`, hole], 100)
  await health.checkAll()
  assert.deepEqual(
    instances.map((instance) => instance.available),
    [false, false],
  )
})

test('a killed instance fails its next check; restarted on the same port, it is taken back', async (t) => {
  const first = await startUpstream(t)
  const port = Number(new URL(first.url).port)
  const { health, instances } = checked(t, [first.url])
  await health.checkAll()
  assert.equal(instances[0]?.available, true)
  await first.kill()
  await health.checkAll()
  assert.equal(instances[0]?.available, false)
  await startUpstream(t, undefined, port)
  await health.checkAll()
  assert.equal(instances[0]?.available, true)
})
