import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { startAcquirer } from '../../support/processes.ts'
import { type ProfiledOperation, profileStatements } from '../../support/statement-profile.ts'
import { dialects, throwawayDatabase } from '../helpers/databases.ts'

const acquirer = await startAcquirer({ ACQUIRER_AUTH_LATENCY_MS: '0-0', ACQUIRER_AUTH_FAILURE_RATE: '0' })
after(() => acquirer.stop())

/**
 * Statements per request after issue 13's cuts on SQLite and MariaDB. On PostgreSQL each event
 * is written in one statement (data-modifying CTEs, src/outbox/writer.ts) instead of three:
 * 2 fewer wherever a request writes an event. The replay writes none.
 * Before the cuts: authorize 15 (16 first), replay 4, capture 13 (11 without a key), refund 13.
 * A cut changes these on purpose: update them with the figures of `payrail bench statements`.
 */
const expected: Record<ProfiledOperation, { statements: number; roundTrips: number; status: number }> = {
  'authorize (first, key lookup)': { statements: 13, roundTrips: 13, status: 201 },
  authorize: { statements: 12, roundTrips: 12, status: 201 },
  'authorize replay': { statements: 4, roundTrips: 4, status: 201 },
  capture: { statements: 9, roundTrips: 9, status: 202 },
  'capture (no key)': { statements: 8, roundTrips: 8, status: 202 },
  refund: { statements: 9, roundTrips: 9, status: 202 },
}

/**
 * PostgreSQL: the same requests, each event in 2 fewer statements, and each of authorize's two
 * transactions one statement between begin and commit (src/api/authorize-postgres.ts: 10 → 6).
 */
const expectedOnPostgres: typeof expected = {
  'authorize (first, key lookup)': { statements: 7, roundTrips: 7, status: 201 },
  authorize: { statements: 6, roundTrips: 6, status: 201 },
  'authorize replay': { statements: 4, roundTrips: 4, status: 201 },
  capture: { statements: 7, roundTrips: 7, status: 202 },
  'capture (no key)': { statements: 6, roundTrips: 6, status: 202 },
  refund: { statements: 7, roundTrips: 7, status: 202 },
}

for (const dialect of dialects) {
  test(`${dialect}: statements and round trips per request through the api are what they were measured to be`, {
    timeout: 120_000,
  }, async (t) => {
    const database = await throwawayDatabase(t, dialect)
    if (database === undefined) return
    const profile = await profileStatements({
      dialect,
      databaseUrl: database.url,
      acquirerUrl: acquirer.url,
      authorizations: 5,
    })
    const measured = Object.fromEntries(
      profile.operations.map((cost) => [
        cost.operation,
        {
          statements: cost.tally.statements,
          roundTrips: cost.tally.roundTrips,
          status: cost.statuses[0],
        },
      ]),
    )
    assert.deepEqual(measured, dialect === 'postgres' ? expectedOnPostgres : expected)
    for (const cost of profile.operations) {
      assert.ok(cost.same, `${cost.operation}: every run sent the same statements`)
      assert.equal(new Set(cost.statuses).size, 1, `${cost.operation}: ${cost.statuses.join(',')}`)
      assert.equal(
        cost.sequence.length,
        cost.tally.statements,
        `${cost.operation}: ${cost.sequence.join(' / ')}`,
      )
    }
    const authorize = profile.operations.find((cost) => cost.operation === 'authorize')
    assert.equal(authorize?.runs, 5)
    // Two transactions around the acquirer call: the attempt, then the outcome.
    assert.equal(authorize?.tally.byKind.begin, 2)
    assert.equal(authorize?.tally.byKind.commit, 2)
  })
}
