import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { metricOf } from '../../src/load/scrape.ts'
import { startAcquirer } from '../../support/processes.ts'
import { startApi } from '../helpers/api.ts'
import { dialects } from '../helpers/databases.ts'

const acquirer = await startAcquirer()
after(() => acquirer.stop())

/** A sample of the api's metrics text; 0 when absent. */
const metricValue = (page: string, name: string) => metricOf(page, name) ?? 0

for (const dialect of dialects) {
  test(`${dialect}: concurrent authorizes commit in shared transactions; a reused key in a batch is answered without splitting it`, async (t) => {
    const api = await startApi(t, dialect, acquirer.url, { groupCommit: { maxBatch: 64, lanes: 1 } })
    if (api === undefined) return
    // 40 requests at once, every fifth reusing the key of the one before it.
    const keys = Array.from({ length: 40 }, (_, i) => `gc-${i % 5 === 4 ? i - 1 : i}`)
    const answers = await Promise.all(
      keys.map((key) =>
        api.call('POST', '/api/payments/authorize', {
          body: { amount: 1000, currency: 'KRW', idempotencyKey: key },
        }),
      ),
    )
    const statuses = answers.map((answer) => answer.status)
    const distinct = new Set(keys).size
    const created = answers.filter(
      (answer) => answer.status === 201 && answer.headers.get('idempotent-replayed') === null,
    )
    assert.equal(created.length, distinct, `one new payment per key: ${statuses}`)
    for (const answer of answers)
      assert.ok(answer.status === 201 || answer.status === 409, `status ${answer.status}`)
    const counts = await api.counts()
    assert.equal(counts.payments, distinct)
    assert.equal(counts.attempts, distinct)
    assert.equal(counts.idempotency, distinct)
    const metrics = await api.metrics()
    const transactions = metricValue(metrics, 'payrail_db_group_commit_size_count')
    const units = metricValue(metrics, 'payrail_db_group_commit_size_sum')
    // Each new payment's two transactions, and the reused keys' claims, in fewer transactions.
    assert.equal(units, distinct * 2 + (keys.length - distinct))
    assert.ok(transactions < units, `${units} units in ${transactions} transactions`)
    assert.equal(metricValue(metrics, 'payrail_db_group_commit_splits_total'), 0)
  })
}
