import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { PayrailError } from '../domain/errors.ts'
import type { PaymentStatus } from '../domain/payment.ts'
import { ledgerEntriesOf } from '../ledger/entries.ts'
import { type PaymentView, paymentView } from './views.ts'

export interface ListQuery {
  merchantId: string
  status?: PaymentStatus | undefined
  from?: number | undefined
  to?: number | undefined
  cursor?: string | undefined
  limit: number
}

export interface PaymentPage {
  items: PaymentView[]
  nextCursor: string | null
}

/** The NOT_FOUND error for a payment that does not exist or belongs to another merchant. */
export const notFound = (paymentId: string) =>
  new PayrailError('NOT_FOUND', `payment ${paymentId} not found`, { details: { paymentId } })

function encodeCursor(row: { created_at: number; id: string }): string {
  return Buffer.from(`${row.created_at}:${row.id}`).toString('base64url')
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString().split(':')
  if (
    createdAt === undefined ||
    id === undefined ||
    !/^\d+$/.test(createdAt) ||
    id.length === 0 ||
    id.length > 36
  ) {
    throw new PayrailError('VALIDATION_FAILED', 'cursor is not one this API returned')
  }
  return { createdAt: Number(createdAt), id }
}

/** The read side of the payment API: one payment with its ledger and timeline, and cursor-paged lists. */
export class PaymentReads {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /** One payment of `merchantId` with its ledger entries and event timeline; NOT_FOUND otherwise. */
  async get(merchantId: string, paymentId: string): Promise<PaymentView> {
    const payment = await this.#db
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', paymentId)
      .where('merchant_id', '=', merchantId)
      .executeTakeFirst()
    if (payment === undefined) throw notFound(paymentId)
    const [ledger, events] = await Promise.all([
      ledgerEntriesOf(this.#db, paymentId),
      this.#db
        .selectFrom('payment_events')
        .selectAll()
        .where('payment_id', '=', paymentId)
        .orderBy('sequence')
        .execute(),
    ])
    return paymentView(payment, ledger, events)
  }

  /** Newest first, by the (merchant, [status,] created_at, id) indexes: a range scan, never a full one. */
  async list(query: ListQuery): Promise<PaymentPage> {
    let select = this.#db.selectFrom('payments').selectAll().where('merchant_id', '=', query.merchantId)
    if (query.status !== undefined) select = select.where('status', '=', query.status)
    if (query.from !== undefined) select = select.where('created_at', '>=', query.from)
    if (query.to !== undefined) select = select.where('created_at', '<', query.to)
    if (query.cursor !== undefined) {
      const after = decodeCursor(query.cursor)
      select = select.where((eb) =>
        eb.or([
          eb('created_at', '<', after.createdAt),
          eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)]),
        ]),
      )
    }
    const rows = await select
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.limit + 1)
      .execute()
    const page = rows.slice(0, query.limit)
    const last = page.at(-1)
    return {
      items: page.map((row) => paymentView(row)),
      nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor(last) : null,
    }
  }
}
