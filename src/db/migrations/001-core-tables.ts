import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../database.ts'

/** Payments, their ledger, the outbox, idempotency records, merchants and their keys, consumer dedupe. */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  await db.schema
    .createTable('merchants')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(200)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(64)', (c) => c.notNull().references('merchants.id'))
    .addColumn('prefix', 'varchar(16)', (c) => c.notNull().unique())
    .addColumn('key_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute()

  await db.schema
    .createTable('payments')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('merchant_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('idempotency_key', 'varchar(128)')
    .addColumn('status', 'varchar(24)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'varchar(3)', (c) => c.notNull())
    .addColumn('captured_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('refunded_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_sequence', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('acquirer_reference', 'varchar(64)')
    .addColumn('message', 'varchar(500)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('payments_merchant_idempotency_key', ['merchant_id', 'idempotency_key'])
    .execute()
  // Cursor-paged listing per merchant, optionally by status, newest first: both are index range scans.
  await db.schema
    .createIndex('payments_merchant_created')
    .on('payments')
    .columns(['merchant_id', 'created_at', 'id'])
    .execute()
  await db.schema
    .createIndex('payments_merchant_status_created')
    .on('payments')
    .columns(['merchant_id', 'status', 'created_at', 'id'])
    .execute()

  await db.schema
    .createTable('ledger_entries')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('payment_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('event_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('debit_account', 'varchar(64)', (c) => c.notNull())
    .addColumn('credit_account', 'varchar(64)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('ledger_entries_payment')
    .on('ledger_entries')
    .columns(['payment_id', 'created_at'])
    .execute()

  // The outbox id is the publishing order within a payment's events as well as the claim cursor,
  // so it must be a monotonically increasing integer in every dialect. The row itself is never
  // updated: where it stands (pending, refused, dead, published) is kept by the relay's tables
  // of migration 003.
  const id = { sqlite: 'integer', mysql: 'bigint', postgres: 'bigserial' } as const
  await db.schema
    .createTable('outbox_events')
    .addColumn('id', sql.raw(id[dialect]), (c) => {
      const key = c.primaryKey()
      return dialect === 'postgres' ? key : key.autoIncrement()
    })
    .addColumn('event_id', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('payment_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('merchant_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('sequence', 'integer', (c) => c.notNull())
    .addColumn('topic', 'varchar(128)', (c) => c.notNull())
    .addColumn('event_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('headers', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('outbox_events_payment_sequence', ['payment_id', 'sequence'])
    .execute()

  await db.schema
    .createTable('idempotency_records')
    .addColumn('merchant_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('idempotency_key', 'varchar(128)', (c) => c.notNull())
    .addColumn('request_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('state', 'varchar(16)', (c) => c.notNull())
    .addColumn('response_status', 'integer')
    .addColumn('response_body', 'text')
    .addColumn('payment_id', 'varchar(36)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_records_pk', ['merchant_id', 'idempotency_key'])
    .execute()

  await db.schema
    .createTable('processed_events')
    .addColumn('consumer', 'varchar(64)', (c) => c.notNull())
    .addColumn('event_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('processed_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('processed_events_pk', ['consumer', 'event_id'])
    .execute()
}
