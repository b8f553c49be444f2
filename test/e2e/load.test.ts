import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { LoadReport } from '../../src/load/report.ts'
import { freePort, startAcquirer, startRole } from '../../support/processes.ts'
import { runCli } from '../helpers/cli.ts'
import { throwawayDatabase } from '../helpers/databases.ts'

test('payrail load authorize offers 50/s for 3 s to a real api, writes JSON and HTML, and a failing threshold fails the exit', async (t) => {
  const database = await throwawayDatabase(t, 'sqlite')
  if (database === undefined) return
  const dir = mkdtempSync(join(tmpdir(), 'payrail-load-'))
  const acquirer = await startAcquirer()
  t.after(() => acquirer.stop())
  const port = await freePort()
  const api = await startRole('api', port, {
    DATABASE_URL: database.url,
    API_PORT: String(port),
    ACQUIRER_URL: acquirer.url,
    LOG_LEVEL: 'warn',
  })
  t.after(() => api.stop())
  const env = { DATABASE_URL: database.url }
  const out = join(dir, 'run')
  const run = await runCli(
    [
      'load',
      'authorize',
      '--url',
      api.url,
      '--merchants',
      '3',
      '--rate',
      '50',
      '--duration',
      '3s',
      '--scrape',
      `api=${api.url}`,
      '--threshold',
      'p99<5s',
      '--threshold',
      'errors<1%',
      '--out',
      out,
    ],
    env,
  )
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`)
  assert.ok(existsSync(`${out}.json`) && existsSync(`${out}.html`), 'JSON and HTML written')
  const report = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as LoadReport
  // 50/s for 3 s is 150 iterations due; all of them started (nothing was near the in-flight cap).
  assert.equal(report.iterations.due, 150)
  assert.equal(report.iterations.dropped, 0)
  assert.equal(report.answers['201'], 150, JSON.stringify(report.answers))
  assert.equal(report.steps.authorize?.count, 150)
  assert.ok(report.achievedRate > 40 && report.achievedRate < 60, `achieved ${report.achievedRate}/s`)
  assert.ok(report.seconds.length >= 3, 'a sample per second')
  assert.ok(
    report.scraped.some((s) => s.role === 'api' && s.values.eventLoopLagMs !== undefined),
    'api scraped',
  )
  assert.deepEqual(
    report.thresholds.map((v) => v.passed),
    [true, true],
  )
  const html = readFileSync(`${out}.html`, 'utf8')
  assert.match(html, /<svg/)
  assert.doesNotMatch(
    html,
    /<script|https?:\/\/(?!127\.0\.0\.1|www\.w3\.org)/,
    'self-contained: no script, no remote resource',
  )

  // A bound no run can meet: the same load, now with an exit that says it failed.
  const failing = await runCli(
    [
      'load',
      'authorize',
      '--url',
      api.url,
      '--merchants',
      '1',
      '--rate',
      '20',
      '--duration',
      '1s',
      '--threshold',
      'p99<0.001ms',
      '--out',
      join(dir, 'failing'),
    ],
    env,
  )
  assert.equal(failing.code, 1, `${failing.stdout}\n${failing.stderr}`)
  assert.match(failing.stderr, /threshold\(s\) failed: p99<0\.001ms/)

  const bad = await runCli(
    ['load', 'authorize', '--url', api.url, '--merchants', '1', '--threshold', 'p99 under 300'],
    env,
  )
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--threshold "p99 under 300": not a threshold/)
})
