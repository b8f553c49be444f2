import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { startAcquirer } from '../../support/processes.ts'
import { startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())

for (const dialect of dialects) {
  test(`${dialect}: webhook endpoints with the safety switches off: private and http URLs refused with problem+json, nothing stored; the secret shown once, sealed at rest, rolled with a grace period`, {
    timeout: 60_000,
  }, async (t) => {
    const api = await startApi(t, dialect, acquirer.url)
    if (api === undefined) return
    const refused = [
      'https://127.0.0.1/hooks',
      'https://[::1]/hooks',
      'https://10.0.0.8/hooks',
      'https://169.254.169.254/latest/meta-data',
      'https://[::ffff:192.168.0.1]/hooks',
      'https://localhost/hooks',
      'http://shop.example/hooks',
      'https://user:secret@shop.example/hooks',
    ]
    for (const url of refused) {
      const answer = await api.call('POST', '/api/webhook-endpoints', {
        body: { url, eventTypes: ['payment.captured'] },
      })
      assert.equal(answer.status, 422, url)
      assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8')
      assert.equal(answer.body.code, 'WEBHOOK_URL_REFUSED', url)
      assert.ok(!JSON.stringify(answer.body).includes('secret@'), 'the problem never echoes credentials')
    }
    const unknownType = await api.call('POST', '/api/webhook-endpoints', {
      body: { url: 'https://shop.example/h', eventTypes: ['payment.exploded'] },
    })
    assert.equal(unknownType.status, 400)
    assert.equal(unknownType.body.code, 'VALIDATION_FAILED')
    assert.equal(
      (await api.db.selectFrom('webhook_endpoints').selectAll().execute()).length,
      0,
      'nothing stored',
    )

    const created = await api.call('POST', '/api/webhook-endpoints', {
      body: { url: 'https://shop.example/hooks', eventTypes: ['payment.captured', 'payment.refunded'] },
    })
    assert.equal(created.status, 201)
    const secret = created.body.secret as string
    assert.match(secret, /^whsec_/)
    const stored = await api.db.selectFrom('webhook_endpoints').selectAll().executeTakeFirstOrThrow()
    assert.match(stored.secret, /^v1:/)
    assert.ok(!stored.secret.includes(secret.slice(6)), 'sealed at rest')
    const shown = await api.call('GET', `/api/webhook-endpoints/${created.body.id}`)
    assert.equal(shown.body.secret, undefined)
    assert.equal(shown.body.previousSecretValidUntil, null)

    const rolled = await api.call('POST', `/api/webhook-endpoints/${created.body.id}/roll-secret`)
    assert.equal(rolled.status, 200)
    assert.notEqual(rolled.body.secret, secret)
    const during = await api.call('GET', `/api/webhook-endpoints/${created.body.id}`)
    assert.equal(during.body.previousSecretValidUntil, rolled.body.previousSecretValidUntil)
    assert.ok(
      !api.logs().includes(secret.slice(6)) && !api.logs().includes(String(rolled.body.secret).slice(6)),
      'no secret in the logs',
    )

    assert.equal(
      (await api.call('DELETE', `/api/webhook-endpoints/${created.body.id}`, { key: api.keys.b })).status,
      404,
    )
    assert.equal((await api.call('DELETE', `/api/webhook-endpoints/${created.body.id}`)).status, 204)
    assert.equal((await api.call('GET', `/api/webhook-endpoints/${created.body.id}`)).status, 404)
  })
}
