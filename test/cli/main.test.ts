import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runCli } from '../helpers/cli.ts'

test('--help lists every command', async () => {
  const result = await runCli(['--help'])
  assert.equal(result.code, 0)
  for (const command of ['up', 'api', 'acquirer', 'merchant', 'kafka', 'topics', 'migrate', 'test']) {
    assert.match(result.stdout, new RegExp(`^  ${command}\\b`, 'm'), command)
  }
})

test('an unknown command is named, with a hint, and exits non-zero', async () => {
  const result = await runCli(['frobnicate'])
  assert.equal(result.code, 2)
  assert.match(result.stderr, /unknown command 'frobnicate'/)
  assert.match(result.stderr, /payrail --help/)
})

test('a near-miss command gets a suggestion', async () => {
  const result = await runCli(['migrat'])
  assert.equal(result.code, 2)
  assert.match(result.stderr, /Did you mean migrate\?/)
})

test('an unknown flag is named and exits non-zero', async () => {
  const result = await runCli(['kafka', 'logs', '--bogus'])
  assert.equal(result.code, 2)
  assert.match(result.stderr, /unknown option '--bogus'/)
})

test('a bad flag value is named and exits non-zero', async () => {
  const result = await runCli(['kafka', 'logs', '--lines', 'many'])
  assert.equal(result.code, 2)
  assert.match(result.stderr, /--lines must be a positive integer \(got many\)/)
})

test('a bad configuration value stops the command and names the variable', async () => {
  const result = await runCli(['migrate'], { OUTBOX_POLL_INTERVAL_MS: 'soon' })
  assert.equal(result.code, 2)
  assert.match(result.stderr, /OUTBOX_POLL_INTERVAL_MS="soon": must be a whole number/)
})

test('a count option that is not a whole number in range is refused with exit 2, naming the option', async () => {
  for (const args of [
    ['ledger', 'check', '--limit', '0'],
    ['dlq', 'list', '--limit', 'many'],
    ['admin', 'audit', '--limit', '100001'],
  ]) {
    const result = await runCli(args, { DATABASE_URL: 'sqlite::memory:' })
    assert.equal(result.code, 2, `payrail ${args.join(' ')}: ${result.stderr}`)
    assert.match(result.stderr, /--limit must be a whole number from 1 to \d+ \(got \S+\)/)
  }
})
