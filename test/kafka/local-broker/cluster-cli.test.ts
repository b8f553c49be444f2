import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../../../src/cli/context.ts'
import { startCluster } from '../../../src/kafka/local-broker/cluster.ts'
import { runCli } from '../../helpers/cli.ts'

test('kafka start refuses --port without a cluster, and a node count out of range, with exit 2', async () => {
  const single = await runCli(['kafka', 'start', '--port', '19092'], { KAFKA_BROKERS: '' })
  assert.equal(single.code, 2)
  assert.match(
    single.stderr,
    /--port sets the port of a cluster \(--nodes 2 or more\); the single broker stays on 127\.0\.0\.1:9092/,
  )
  const many = await runCli(['kafka', 'start', '--nodes', '10'], { KAFKA_BROKERS: '' })
  assert.equal(many.code, 2)
  assert.match(many.stderr, /--nodes must be a whole number from 1 to 9 \(got 10\)/)
})

test('a cluster start on a port in use refuses before writing or launching anything', async (t) => {
  const taken = createServer()
  taken.listen(0, '127.0.0.1')
  await once(taken, 'listening')
  t.after(() => taken.close())
  const address = taken.address()
  assert.ok(address !== null && typeof address === 'object')
  const parent = mkdtempSync(join(tmpdir(), 'payrail-cluster-'))
  t.after(() => rmSync(parent, { recursive: true, force: true }))
  const stateDir = join(parent, 'cluster')
  await assert.rejects(
    startCluster({
      root: ROOT,
      stateDir,
      ports: [address.port, 1, 2],
      controllerPorts: [3, 4, 5],
      say: () => {},
    }),
    (error: Error & { code?: string }) =>
      error.code === 'KAFKA_BROKER_START_FAILED' &&
      error.message.includes(`port ${address.port} on 127.0.0.1 is in use`),
  )
  assert.equal(existsSync(stateDir), false, 'nothing written')
})
