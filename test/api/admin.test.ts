import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { listAdminAudit } from '../../src/db/admin-audit.ts'
import { startAcquirer } from '../../support/processes.ts'
import { ADMIN_TOKEN, startApi } from '../helpers/api.ts'
import { runCli } from '../helpers/cli.ts'
import { dialects } from '../helpers/databases.ts'
import { until } from '../helpers/until.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())

for (const dialect of dialects) {
  test(`${dialect}: every admin action is audited (who, what, when, from where, outcome), keys are revoked over HTTP, and payrail admin audit lists it`, async (t) => {
    const api = await startApi(t, dialect, acquirer.url)
    if (api === undefined) return
    const before = Date.now()
    const asAlice = { 'x-admin-actor': 'alice', 'x-forwarded-for': '203.0.113.9' }

    const minted = await api.call('POST', '/api/admin/merchants', {
      key: ADMIN_TOKEN,
      body: { merchantId: 'merchant-a' },
      headers: asAlice,
    })
    assert.equal(minted.status, 201)
    const key = minted.body.apiKey as string
    assert.equal((await api.call('GET', '/api/payments', { key })).status, 200, 'the minted key works')

    const refused = await api.call('POST', '/api/admin/merchants', {
      key: 'a-guess-at-the-admin-token-that-is-long',
      body: { merchantId: 'merchant-b' },
      headers: { 'x-forwarded-for': '198.51.100.4' },
    })
    assert.equal(refused.status, 401)

    const revokeOther = await api.call('POST', '/api/admin/keys/prk_nosuchke/revoke', { key: ADMIN_TOKEN })
    assert.equal(revokeOther.status, 404)
    assert.equal(revokeOther.body.code, 'NOT_FOUND')
    const badPrefix = await api.call('POST', '/api/admin/keys/nonsense/revoke', { key: ADMIN_TOKEN })
    assert.equal(badPrefix.status, 400)

    // A key never used before, so no api cache stands between the revocation and the next call.
    const second = await api.call('POST', '/api/admin/merchants', {
      key: ADMIN_TOKEN,
      body: { merchantId: 'merchant-b' },
      headers: asAlice,
    })
    const revoked = await api.call('POST', `/api/admin/keys/${second.body.prefix}/revoke`, {
      key: ADMIN_TOKEN,
      headers: asAlice,
    })
    assert.equal(revoked.status, 200)
    assert.deepEqual(revoked.body, { prefix: second.body.prefix, merchantId: 'merchant-b' })
    const afterRevoke = await api.call('GET', '/api/payments', { key: second.body.apiKey })
    assert.equal(afterRevoke.status, 401, 'the revoked key no longer authenticates')

    // The status is added once the answer has gone (onResponse): wait for the last one's.
    const entries = (
      await until('every admin answer to be audited', async () => {
        const listed = await listAdminAudit(api.db)
        return listed.every((entry) => entry.status !== null) && listed
      })
    ).reverse()
    assert.deepEqual(
      entries.map((entry) => [entry.action, entry.target, entry.status]),
      [
        ['POST /api/admin/merchants', 'merchant merchant-a', 201],
        ['POST /api/admin/merchants', null, 401],
        ['POST /api/admin/keys/:prefix/revoke', 'key prk_nosuchke', 404],
        ['POST /api/admin/keys/:prefix/revoke', null, 400],
        ['POST /api/admin/merchants', 'merchant merchant-b', 201],
        ['POST /api/admin/keys/:prefix/revoke', `key ${second.body.prefix}`, 200],
      ],
    )
    const [first, guess] = entries
    assert.match(first?.actor ?? '', /^alice \(token [0-9a-f]{8}\)$/)
    assert.ok(!(first?.actor ?? '').includes(ADMIN_TOKEN.slice(0, 8)), 'the token itself is never stored')
    assert.match(first?.source ?? '', /^203\.0\.113\.9 via (::ffff:)?127\.0\.0\.1$/)
    assert.ok((first?.at ?? 0) >= before && (first?.at ?? 0) <= Date.now())
    assert.equal(guess?.actor, 'unauthenticated')
    assert.match(guess?.source ?? '', /^198\.51\.100\.4 via/)
    assert.equal(entries[2]?.actor, entries[0]?.actor.replace('alice', 'admin'), 'no name given: admin')

    const listed = await runCli(['admin', 'audit', '--limit', '3'], { DATABASE_URL: api.databaseUrl })
    assert.equal(listed.code, 0, listed.stderr)
    const lines = listed.stdout.trim().split('\n')
    assert.equal(lines.length, 3)
    assert.match(
      lines[0] ?? '',
      /200 {2}alice \(token [0-9a-f]{8}\) {2}POST \/api\/admin\/keys\/:prefix\/revoke {2}key prk_/,
    )
    assert.match(lines[0] ?? '', /from 203\.0\.113\.9 via/)
    const json = await runCli(['admin', 'audit', '--json'], { DATABASE_URL: api.databaseUrl })
    assert.equal(json.stdout.trim().split('\n').length, 6)
    assert.equal(JSON.parse(json.stdout.split('\n')[0] ?? '').status, 200)
  })
}
