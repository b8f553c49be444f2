import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { test } from 'node:test'
import { SecretBox } from '../../src/webhooks/secrets.ts'
import { newSigningSecret, signatureHeader, verifySignature } from '../../src/webhooks/signing.ts'

const body = '{"id":"e1","type":"payment.captured"}'

test('the header is t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, as a Stripe-style receiver computes it', {
  timeout: 5000,
}, () => {
  const header = signatureHeader(['whsec_a'], 1_700_000_000, body)
  const expected = createHmac('sha256', 'whsec_a').update(`1700000000.${body}`).digest('hex')
  assert.equal(header, `t=1700000000,v1=${expected}`)
  assert.ok(verifySignature(header, body, 'whsec_a', 1_700_000_000))
})

test('verification fails for another secret, an altered body, a stale or future timestamp, a missing header', {
  timeout: 5000,
}, () => {
  const header = signatureHeader(['whsec_a'], 1000, body)
  assert.equal(verifySignature(header, body, 'whsec_b', 1000), false)
  assert.equal(verifySignature(header, `${body} `, 'whsec_a', 1000), false)
  assert.equal(verifySignature(header, body, 'whsec_a', 1000 + 301), false)
  assert.equal(verifySignature(header, body, 'whsec_a', 1000 - 301), false)
  assert.equal(verifySignature(header, body, 'whsec_a', 1000 + 300), true)
  assert.equal(verifySignature(undefined, body, 'whsec_a', 1000), false)
  assert.equal(verifySignature('t=1000,v1=abc', body, 'whsec_a', 1000), false)
})

test('during a roll both secrets sign, so a receiver holding either verifies', { timeout: 5000 }, () => {
  const header = signatureHeader(['whsec_new', 'whsec_old'], 1000, body)
  assert.ok(verifySignature(header, body, 'whsec_new', 1000))
  assert.ok(verifySignature(header, body, 'whsec_old', 1000))
  assert.equal(header.split(',').length, 3)
})

test('secrets are 32 random bytes; sealed ones open only with their key and never show the secret', {
  timeout: 5000,
}, () => {
  const secret = newSigningSecret()
  assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/)
  assert.notEqual(newSigningSecret(), secret)
  const box = new SecretBox('k'.repeat(32))
  const sealed = box.seal(secret)
  assert.match(sealed, /^v1:/)
  assert.ok(!sealed.includes(secret.slice(6)))
  assert.equal(box.open(sealed), secret)
  assert.throws(() => new SecretBox('x'.repeat(32)).open(sealed), { code: 'CONFIG_INVALID' })
  assert.throws(() => new SecretBox(undefined).open(sealed), { code: 'CONFIG_INVALID' })
  const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}A`
  assert.throws(() => box.open(tampered), { code: 'CONFIG_INVALID' })
  assert.equal(new SecretBox(undefined).open(new SecretBox(undefined).seal(secret)), secret)
})
