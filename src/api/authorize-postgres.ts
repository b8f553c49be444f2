import { type RawBuilder, sql, type Transaction } from 'kysely'
import { databaseNowMs } from '../db/clock.ts'
import type { Database } from '../db/schema.ts'
import type { EventRows } from '../outbox/writer.ts'

/**
 * Authorize's two transactions on PostgreSQL, one statement each, in data-modifying CTEs: the
 * key and the attempt (2 statements elsewhere), then the attempt's outcome, the payment, its
 * event's three rows and the key's response (4 to 6 elsewhere). Every round trip costs the api
 * about 40 µs of CPU on loopback (bench platform --profile-at, PostgreSQL: socket writes were 34 %
 * of the api's CPU), and PostgreSQL a parse, plan and executor start per statement.
 * The rows are the same on every dialect; only the number of statements differs.
 */

/** A row to write: values are parameters, or SQL expressions (the database's clock). */
type Row = Record<string, string | number | null | RawBuilder<unknown>>

function isSql(value: Row[string]): value is RawBuilder<unknown> {
  return typeof value === 'object' && value !== null
}

/**
 * `insert into <table> (<columns>) select <values> from <source>`: a row written only when its
 * source CTE returned one. Numbers are cast to bigint: an untyped parameter in a select list is
 * taken as text, which has no assignment cast to a number column (bigint has, to integer too).
 */
function insertFrom(table: string, row: Row, source: string): RawBuilder<unknown> {
  const columns = Object.keys(row)
  const values = columns.map((column) => {
    const value = row[column] as Row[string]
    if (isSql(value)) return value
    return typeof value === 'number' ? sql`${value}::bigint` : sql`${value}`
  })
  return sql`insert into ${sql.table(table)} (${sql.join(columns.map((column) => sql.ref(column)))}) select ${sql.join(values)} from ${sql.table(source)}`
}

/** `insert into <table> (<columns>) values (<values>)`: parameters take the columns' types. */
function insertValues(table: string, row: Row): RawBuilder<unknown> {
  const columns = Object.keys(row)
  return sql`insert into ${sql.table(table)} (${sql.join(columns.map((column) => sql.ref(column)))}) values (${sql.join(columns.map((column) => row[column]))})`
}

/**
 * Takes the key (its IN_PROGRESS record) and records the attempt, in one statement; false when
 * the key was taken (no row of either is written).
 */
export async function claimAttemptPostgres(
  trx: Transaction<Database>,
  keyRecord: Row,
  attempt: Row,
): Promise<boolean> {
  const result = await sql<{ payment_id: string }>`
    with ${sql.table('k')} as (
      ${insertValues('idempotency_records', keyRecord)} on conflict do nothing returning ${sql.ref('merchant_id')}
    )
    ${insertFrom('authorization_attempts', attempt, 'k')} returning ${sql.ref('payment_id')}`.execute(trx)
  return result.rows.length === 1
}

/** What an acquirer answer writes when its attempt is still PENDING. */
export interface OutcomeRows {
  paymentId: string
  payment: Row
  /** The approval's event; none for a decline. */
  event: EventRows | undefined
  key: {
    merchantId: string
    idempotencyKey: string
    responseStatus: number
    responseBody: string
    now: number
  }
}

/**
 * Marks the attempt DONE and, only if it was PENDING, writes the payment, its event and the key's
 * response, in one statement. Answers whether the attempt was PENDING (nothing is written
 * otherwise) and the outbox row's id.
 */
export async function writeOutcomePostgres(
  trx: Transaction<Database>,
  rows: OutcomeRows,
): Promise<{ claimed: boolean; outboxId: number | undefined }> {
  const event =
    rows.event === undefined
      ? sql``
      : sql`, ${sql.table('e')} as (${insertFrom('outbox_events', rows.event.outboxRow, 'p')} returning ${sql.ref('id')}, ${sql.ref('bucket')}),
        ${sql.table('t')} as (${insertFrom('payment_events', rows.event.timelineRow, 'p')}),
        ${sql.table('q')} as (insert into ${sql.table('outbox_pending')} (${sql.ref('id')}, ${sql.ref('bucket')}) select ${sql.ref('id')}, ${sql.ref('bucket')} from ${sql.table('e')})`
  const outboxId =
    rows.event === undefined ? sql`null` : sql`(select ${sql.ref('id')} from ${sql.table('e')})`
  const { key } = rows
  const result = await sql<{ claimed: number; outbox_id: string | number | null }>`
    with ${sql.table('a')} as (
      update ${sql.table('authorization_attempts')} set ${sql.ref('state')} = 'DONE', ${sql.ref('updated_at')} = ${databaseNowMs('postgres')}
      where ${sql.ref('payment_id')} = ${rows.paymentId} and ${sql.ref('state')} = 'PENDING' returning ${sql.ref('payment_id')}
    ),
    ${sql.table('p')} as (${insertFrom('payments', rows.payment, 'a')} returning ${sql.ref('id')})${event},
    ${sql.table('k')} as (
      update ${sql.table('idempotency_records')} set ${sql.ref('state')} = 'COMPLETED', ${sql.ref('response_status')} = ${key.responseStatus},
        ${sql.ref('response_body')} = ${key.responseBody}, ${sql.ref('updated_at')} = ${key.now}
      where ${sql.ref('merchant_id')} = ${key.merchantId} and ${sql.ref('idempotency_key')} = ${key.idempotencyKey}
        and exists (select 1 from ${sql.table('a')})
    )
    select (select count(*) from ${sql.table('a')})::integer as ${sql.ref('claimed')}, ${outboxId} as ${sql.ref('outbox_id')}`.execute(
    trx,
  )
  const row = result.rows[0]
  return {
    claimed: Number(row?.claimed ?? 0) === 1,
    outboxId: row?.outbox_id === null || row?.outbox_id === undefined ? undefined : Number(row.outbox_id),
  }
}
