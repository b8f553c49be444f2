import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { openDatabase } from '../../src/db/database.ts'
import { merchantForKey } from '../../src/db/merchants.ts'
import { runCli } from '../helpers/cli.ts'

test('merchant create prints a key that authenticates; revoke by prefix turns it off', async (t) => {
  const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'payrail-merchant-')), 'p.db')}`
  const created = await runCli(['merchant', 'create', 'shop-7', '--name', 'Shop Seven'], {
    DATABASE_URL: url,
  })
  assert.equal(created.code, 0, created.stderr)
  const key = /api key +(prk_\S+)/.exec(created.stdout)?.[1]
  assert.ok(key, created.stdout)
  const prefix = /merchant revoke (prk_\S+)`/.exec(created.stdout)?.[1]
  assert.equal(prefix, key.slice(0, 12))

  const handle = openDatabase({ url })
  t.after(() => handle.close())
  assert.equal(await merchantForKey(handle.db, key), 'shop-7')
  const stored = await handle.db.selectFrom('api_keys').select('key_hash').executeTakeFirstOrThrow()
  assert.notEqual(stored.key_hash, key, 'only a hash is stored')
  assert.ok(!stored.key_hash.includes(key.slice(12)))

  const revoked = await runCli(['merchant', 'revoke', prefix], { DATABASE_URL: url })
  assert.equal(revoked.code, 0, revoked.stderr)
  assert.match(revoked.stdout, /revoked key prk_\S+ of merchant shop-7/)
  assert.equal(await merchantForKey(handle.db, key), undefined)

  const again = await runCli(['merchant', 'revoke', prefix], { DATABASE_URL: url })
  assert.equal(again.code, 1)
  assert.match(again.stderr, /no active API key starts with prk_/)
})

test('merchant create refuses an id that is not one', async () => {
  const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'payrail-merchant-')), 'p.db')}`
  const result = await runCli(['merchant', 'create', 'bad id!'], { DATABASE_URL: url })
  assert.equal(result.code, 1)
  assert.match(result.stderr, /merchant id "bad id!" must be 1-64 letters/)
})
