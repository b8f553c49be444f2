import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { errorCatalog, hasErrorCode, PayrailError } from '../../src/domain/errors.ts'

test('a catalog error carries its code, status and retryability', () => {
  const error = new PayrailError('KAFKA_UNAVAILABLE', 'down', { details: { brokers: '127.0.0.1:9092' } })
  assert.equal(error.code, 'KAFKA_UNAVAILABLE')
  assert.equal(error.status, 503)
  assert.equal(error.retryable, true)
  assert.deepEqual(error.details, { brokers: '127.0.0.1:9092' })
})

test('errors match on code, also for plain objects from elsewhere', () => {
  assert.ok(hasErrorCode({ code: 'NOT_FOUND' }, 'NOT_FOUND'))
  assert.ok(!hasErrorCode(new Error('x'), 'NOT_FOUND'))
  assert.ok(!hasErrorCode(null, 'NOT_FOUND'))
})

test('every catalog code is raised somewhere in src/ and documented in the README', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
  const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && file !== join('domain', 'errors.ts'))
    .map((file) => readFileSync(join(root, 'src', file), 'utf8'))
    .join('\n')
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const unused = Object.keys(errorCatalog).filter((code) => !sources.includes(`'${code}'`))
  const undocumented = Object.entries(errorCatalog)
    .filter(([code, entry]) => !readme.includes(`| \`${code}\` | ${entry.status} |`))
    .map(([code]) => code)
  assert.deepEqual(unused, [], 'codes no file in src/ raises or matches: remove them from the catalog')
  assert.deepEqual(undocumented, [], "codes missing from the README's error code table")
})
