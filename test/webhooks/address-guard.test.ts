import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { classifyAddress, guardedLookup } from '../../src/webhooks/address-guard.ts'
import { checkEndpointUrl } from '../../src/webhooks/endpoints.ts'
import { WebhookSender } from '../../src/webhooks/sender.ts'

test('addresses are classified: loopback, private, link-local, metadata, IPv4-mapped IPv6, public', {
  timeout: 5000,
}, () => {
  const cases: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fc00::1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['2606:4700::1111', 'public'],
    ['::ffff:8.8.8.8', 'public'],
  ]
  for (const [address, kind] of cases) assert.equal(classifyAddress(address), kind, address)
})

test('endpoint URLs: https only unless http is allowed, no credentials, no literal non-public host or localhost unless allowed', {
  timeout: 5000,
}, () => {
  const strict = { allowHttp: false, allowPrivate: false }
  assert.equal(checkEndpointUrl('https://shop.example/hooks', strict).href, 'https://shop.example/hooks')
  for (const url of [
    'http://shop.example/hooks',
    'ftp://shop.example',
    'https://user:pw@shop.example/',
    'https://127.0.0.1/',
    'https://[::1]/',
    'https://169.254.169.254/latest',
    'https://[::ffff:10.0.0.1]/',
    'https://localhost:8443/',
    'not a url',
  ])
    assert.throws(() => checkEndpointUrl(url, strict), { code: 'WEBHOOK_URL_REFUSED' }, url)
  const local = { allowHttp: true, allowPrivate: true }
  assert.equal(checkEndpointUrl('http://127.0.0.1:9000/h', local).port, '9000')
})

test('the lookup refuses a name resolving to any non-public address and hands over exactly the checked ones', {
  timeout: 5000,
}, async () => {
  const resolver = (answers: { address: string; family: number }[]) =>
    ((_host: string, _options: unknown, callback: (e: null, a: typeof answers) => void) =>
      callback(null, answers)) as never
  const lookup = (answers: { address: string; family: number }[], all: boolean, allowPrivate = false) =>
    new Promise<unknown>((resolve) =>
      guardedLookup(allowPrivate, resolver(answers))('shop.example', { all }, (error, address) =>
        resolve(error ?? address),
      ),
    )
  const mixed = [
    { address: '93.184.216.34', family: 4 },
    { address: '10.0.0.5', family: 4 },
  ]
  assert.equal(((await lookup(mixed, true)) as { code: string }).code, 'WEBHOOK_URL_REFUSED')
  assert.deepEqual(await lookup([{ address: '93.184.216.34', family: 4 }], true), [
    { address: '93.184.216.34', family: 4 },
  ])
  assert.equal(await lookup([{ address: '93.184.216.34', family: 4 }], false), '93.184.216.34')
  assert.deepEqual(await lookup(mixed, true, true), mixed)
})

test('with WEBHOOK_ALLOW_PRIVATE off the sender refuses a loopback receiver (by IP and by name) and nothing reaches it', {
  timeout: 10_000,
}, async () => {
  let hits = 0
  const server = createServer((_request, response) => {
    hits++
    response.end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const strict = new WebhookSender({ timeoutMs: 2000, allowPrivate: false })
  const open = new WebhookSender({ timeoutMs: 2000, allowPrivate: true })
  try {
    for (const url of [`http://127.0.0.1:${port}/h`, `http://localhost:${port}/h`]) {
      const outcome = await strict.send({ url, body: '{}', eventId: 'e', eventType: 't', secrets: ['s'] })
      assert.equal(outcome.ok, false)
      assert.match(String(outcome.error), /^refused: .*(loopback).*WEBHOOK_ALLOW_PRIVATE/, url)
    }
    assert.equal(hits, 0)
    const allowed = await open.send({
      url: `http://localhost:${port}/h`,
      body: '{}',
      eventId: 'e',
      eventType: 't',
      secrets: ['s'],
    })
    assert.equal(allowed.ok, true)
    assert.equal(hits, 1)
  } finally {
    await strict.close()
    await open.close()
    server.close()
  }
})

test('a redirect is not followed and counts as a failure; a long answer is read only up to the bound', {
  timeout: 10_000,
}, async () => {
  let redirected = 0
  const server = createServer((request, response) => {
    if (request.url === '/moved') {
      response.writeHead(302, { location: '/target' }).end()
    } else if (request.url === '/target') {
      redirected++
      response.end()
    } else {
      response.writeHead(200)
      response.end(Buffer.alloc(1 << 22))
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const sender = new WebhookSender({ timeoutMs: 2000, allowPrivate: true })
  try {
    const moved = await sender.send({
      url: `http://127.0.0.1:${port}/moved`,
      body: '{}',
      eventId: 'e',
      eventType: 't',
      secrets: ['s'],
    })
    assert.deepEqual([moved.ok, moved.status, redirected], [false, 302, 0])
    const big = await sender.send({
      url: `http://127.0.0.1:${port}/big`,
      body: '{}',
      eventId: 'e',
      eventType: 't',
      secrets: ['s'],
    })
    assert.deepEqual([big.ok, big.status], [true, 200])
  } finally {
    await sender.close()
    server.closeAllConnections()
    server.close()
  }
})
