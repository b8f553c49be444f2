import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../../../src/cli/context.ts'
import { runCli } from '../../helpers/cli.ts'

test('without Java or Maven on PATH, fetching the broker says what to install or to set KAFKA_BROKERS', () => {
  const cache = mkdtempSync(join(tmpdir(), 'payrail-cache-'))
  const module = pathToFileURL(join(ROOT, 'src', 'kafka', 'local-broker', 'distribution.ts')).href
  const script = `
    const { ensureDistribution } = await import(${JSON.stringify(module)})
    try {
      ensureDistribution({ root: ${JSON.stringify(ROOT)}, cacheDir: ${JSON.stringify(cache)}, say: () => {} })
      console.log('no error')
    } catch (error) {
      console.log(error.code + ': ' + error.message)
    }`
  // PATH holds only Node's directory, where there is no java and no mvn.
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: dirname(process.execPath) },
    encoding: 'utf8',
  })
  assert.equal(result.status, 0, result.stderr)
  assert.match(
    result.stdout,
    /^DEPENDENCY_MISSING: the local Kafka broker needs Java 17\+ and Maven on PATH: install them, or set KAFKA_BROKERS/,
  )
  assert.deepEqual(readdirSync(cache), [], 'nothing is cached by a failed fetch')
})

test('with KAFKA_BROKERS set, kafka start refuses to run a local broker', async () => {
  const result = await runCli(['kafka', 'start'], { KAFKA_BROKERS: '127.0.0.1:1' })
  assert.equal(result.code, 2)
  assert.match(
    result.stderr,
    /KAFKA_BROKERS is set \(127\.0\.0\.1:1\); payrail uses that cluster and runs no local broker/,
  )
})
