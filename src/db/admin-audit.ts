import type { Kysely } from 'kysely'
import type { AdminAuditTable, Database } from './schema.ts'

/** One request to the operations plane, as `payrail admin audit` shows it. */
export type AuditEntry = AdminAuditTable

/** Records an admin request before its action runs (status null: still running, or cut short). */
export async function recordAdminRequest(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
  await db.insertInto('admin_audit').values(entry).execute()
}

/** Sets how the request ended. */
export async function recordAdminOutcome(db: Kysely<Database>, id: string, status: number): Promise<void> {
  await db.updateTable('admin_audit').set({ status }).where('id', '=', id).execute()
}

/** The latest entries, newest first. */
export async function listAdminAudit(db: Kysely<Database>, limit = 100): Promise<AuditEntry[]> {
  return db
    .selectFrom('admin_audit')
    .selectAll()
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute()
}
