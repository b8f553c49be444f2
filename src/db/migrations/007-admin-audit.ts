import type { Kysely } from 'kysely'
import type { DialectName } from '../database.ts'

/**
 * admin_audit: one row per request to the operations plane, refused ones included: who (`actor`:
 * the name the operator gave and which admin token, or `unauthenticated`), what (`action`, the
 * route, and `target`, the merchant, key prefix or event it touched), when (`at`), from where
 * (`source`: the client address the gateway saw, and the peer that sent it to the api) and how
 * it ended (`status`, null while the action runs). Never updated but for that status, never
 * deleted by payrail.
 */
export async function up(db: Kysely<unknown>, _dialect: DialectName): Promise<void> {
  await db.schema
    .createTable('admin_audit')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'varchar(200)', (c) => c.notNull())
    .addColumn('action', 'varchar(200)', (c) => c.notNull())
    .addColumn('target', 'varchar(200)')
    .addColumn('source', 'varchar(300)', (c) => c.notNull())
    .addColumn('request_id', 'varchar(128)', (c) => c.notNull())
    .addColumn('status', 'integer')
    .execute()
  await db.schema.createIndex('admin_audit_at').on('admin_audit').columns(['at']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('admin_audit').execute()
}
