import { setTimeout as sleep } from 'node:timers/promises'
import type { Kysely } from 'kysely'
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration'
import { PayrailError } from '../domain/errors.ts'
import type { DialectName } from './database.ts'
import { databaseErrorCode } from './errors.ts'
import * as coreTables from './migrations/001-core-tables.ts'
import * as attemptsAndTimeline from './migrations/002-authorization-attempts-and-timeline.ts'
import * as relayBuckets from './migrations/003-relay-buckets-and-leases.ts'
import * as postgresNotify from './migrations/004-postgres-outbox-notify.ts'
import * as attemptChecks from './migrations/005-authorization-attempt-checks.ts'
import * as retentionIndexes from './migrations/006-retention-indexes.ts'
import * as adminAudit from './migrations/007-admin-audit.ts'
import * as ledgerChecks from './migrations/008-ledger-checks.ts'
import * as webhooks from './migrations/009-webhooks.ts'
import type { Database } from './schema.ts'

interface VersionedMigration {
  up: (db: Kysely<unknown>, dialect: DialectName) => Promise<void>
  down?: (db: Kysely<unknown>, dialect: DialectName) => Promise<void>
}

/** Every migration in order. Names sort by their number; a released one is never edited. */
const migrations: Record<string, VersionedMigration> = {
  '001-core-tables': coreTables,
  '002-authorization-attempts-and-timeline': attemptsAndTimeline,
  '003-relay-buckets-and-leases': relayBuckets,
  '004-postgres-outbox-notify': postgresNotify,
  '005-authorization-attempt-checks': attemptChecks,
  '006-retention-indexes': retentionIndexes,
  '007-admin-audit': adminAudit,
  '008-ledger-checks': ledgerChecks,
  '009-webhooks': webhooks,
}

class StaticProvider implements MigrationProvider {
  readonly #dialect: DialectName
  constructor(dialect: DialectName) {
    this.#dialect = dialect
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    const dialect = this.#dialect
    return Object.fromEntries(
      Object.entries(migrations).map(([name, migration]) => [
        name,
        {
          up: (db: Kysely<unknown>) => migration.up(db, dialect),
          ...(migration.down
            ? { down: (db: Kysely<unknown>) => migration.down?.(db, dialect) ?? Promise.resolve() }
            : {}),
        },
      ]),
    )
  }
}

export interface MigrateResult {
  applied: string[]
  current: string[]
}

/** An SQLite writer lost the race for the write lock; the other process's migration will be seen on retry. */
function isSqliteBusy(error: unknown): boolean {
  return databaseErrorCode(error) === 'DATABASE_CONTENTION'
}

/**
 * Applies every pending migration. Safe to run twice and from several processes at once: on
 * MariaDB and PostgreSQL Kysely holds a database lock (GET_LOCK / advisory lock) while it
 * migrates; SQLite has no such lock, so a process that loses the write race retries and then
 * finds the work done.
 */
export async function migrateToLatest(db: Kysely<Database>, dialect: DialectName): Promise<MigrateResult> {
  const migrator = new Migrator({ db, provider: new StaticProvider(dialect) })
  for (let attempt = 1; ; attempt++) {
    const { error, results = [] } = await migrator.migrateToLatest()
    if (error === undefined) {
      const current = (await migrator.getMigrations())
        .filter((m) => m.executedAt !== undefined)
        .map((m) => m.name)
      return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName), current }
    }
    if (dialect === 'sqlite' && isSqliteBusy(error) && attempt < 20) {
      await sleep(50 * attempt)
      continue
    }
    const failed = results.find((r) => r.status === 'Error')?.migrationName
    throw new PayrailError(
      'MIGRATION_FAILED',
      `migration ${failed ?? '(setup)'} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    )
  }
}
