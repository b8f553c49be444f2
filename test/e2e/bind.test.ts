import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { freePort, startRole } from '../../support/processes.ts'

/** The local addresses listening on `port`, read from the kernel's socket tables (no traffic needed). */
function listeningOn(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  const found: string[] = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/)
      if (state !== '0A' || local === undefined || !local.endsWith(`:${hexPort}`)) continue
      const address = local.slice(0, local.indexOf(':'))
      if (address === '0100007F') found.push('127.0.0.1')
      else if (/^0+$/.test(address)) found.push(table.endsWith('6') ? '::' : '0.0.0.0')
      else found.push(address)
    }
  }
  return found
}

test('HOST=0.0.0.0 opens the gateway only: the api and the acquirer simulator stay on loopback', async (t) => {
  const acquirerPort = await freePort()
  const acquirer = await startRole('acquirer', acquirerPort, {
    HOST: '0.0.0.0',
    ACQUIRER_PORT: String(acquirerPort),
  })
  t.after(() => acquirer.stop('SIGKILL'))
  assert.deepEqual(listeningOn(acquirerPort), ['127.0.0.1'])

  const apiPort = await freePort()
  const api = await startRole('api', apiPort, {
    HOST: '0.0.0.0',
    API_PORT: String(apiPort),
    DATABASE_URL: `sqlite:${join(mkdtempSync(join(tmpdir(), 'payrail-bind-')), 'p.db')}`,
    ACQUIRER_URL: acquirer.url,
  })
  t.after(() => api.stop('SIGKILL'))
  assert.deepEqual(listeningOn(apiPort), ['127.0.0.1'])

  const gatewayPort = await freePort()
  const gateway = await startRole('gateway', gatewayPort, {
    HOST: '0.0.0.0',
    GATEWAY_PORT: String(gatewayPort),
    GATEWAY_UPSTREAM_API: api.url,
    REDIS_URL: '',
  })
  t.after(() => gateway.stop('SIGKILL'))
  assert.deepEqual(listeningOn(gatewayPort), ['0.0.0.0'], 'HOST still opens the gateway')
})
