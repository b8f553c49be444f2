/**
 * bench/statements: what one authorize, replay, capture and refund costs in SQL statements and
 * round trips on each dialect, through the real api over HTTP against a real acquirer process at
 * 0 ms (support/statement-profile.ts). Counts, not times: they do not depend on the machine's load.
 * Prints a table per operation and the statements of each operation, normalized, with counts.
 *
 *   ./payrail bench statements [--authorizations 20] [--databases sqlite,mysql,postgres] [--json]
 */
import { parseArgs } from 'node:util'
import type { DialectName } from '../../src/db/database.ts'
import { createScratchDatabase, scratchServerOf } from '../../support/databases.ts'
import { startAcquirer } from '../../support/processes.ts'
import {
  type ProfiledOperation,
  profileStatements,
  type StatementProfile,
  statementList,
  statementTable,
} from '../../support/statement-profile.ts'

const { values } = parseArgs({
  options: {
    authorizations: { type: 'string', default: '20' },
    databases: { type: 'string', default: 'sqlite,mysql,postgres' },
    json: { type: 'boolean', default: false },
  },
})
const authorizations = Number(values.authorizations)
if (!Number.isInteger(authorizations) || authorizations < 1)
  throw new Error('--authorizations must be a positive whole number')
const databases = values.databases.split(',') as DialectName[]
for (const database of databases) {
  if (database !== 'sqlite' && database !== 'mysql' && database !== 'postgres')
    throw new Error(`--databases takes sqlite, mysql and postgres (got ${database})`)
}

const acquirer = await startAcquirer({ ACQUIRER_AUTH_LATENCY_MS: '0-0', ACQUIRER_AUTH_FAILURE_RATE: '0' })
const profiles: StatementProfile[] = []
try {
  for (const dialect of databases) {
    const scratch = await createScratchDatabase(dialect, scratchServerOf(dialect), 'payrail_bench')
    try {
      profiles.push(
        await profileStatements({
          dialect,
          databaseUrl: scratch.url,
          acquirerUrl: acquirer.url,
          authorizations,
        }),
      )
    } finally {
      await scratch.drop()
    }
  }
} finally {
  await acquirer.stop()
}

if (values.json) {
  console.log(JSON.stringify(profiles, null, 2))
} else {
  console.log(
    `bench/statements: one request at a time through the api over HTTP, acquirer at 0 ms; ${authorizations} authorizations after the first`,
  )
  console.log(
    'per run; "(differed)" would mean the runs of an operation did not all send the same statements\n',
  )
  for (const line of statementTable(profiles)) console.log(line)
  const operations: ProfiledOperation[] = ['authorize', 'authorize replay', 'capture', 'refund']
  for (const profile of profiles) {
    for (const operation of operations) {
      console.log(`\n${profile.dialect}, ${operation}: the statements of one run, in the order sent`)
      for (const line of statementList(profile, operation)) console.log(line)
    }
  }
}
const differed = profiles.flatMap((p) =>
  p.operations.filter((o) => !o.same).map((o) => `${p.dialect} ${o.operation}`),
)
if (differed.length > 0) {
  console.error(`runs differed: ${differed.join(', ')}`)
  process.exitCode = 1
}
