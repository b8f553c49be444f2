import type { Command } from 'commander'
import { PayrailError } from '../../domain/errors.ts'
import { listDead, outboxStatus, replayDead } from '../../outbox/status.ts'
import { say, withDatabase } from '../context.ts'

export function registerOutbox(program: Command): void {
  program
    .command('outbox')
    .description('outbox operations')
    .command('status')
    .description(
      'pending count, oldest pending age, dead count, pending per type, and each relay with its breaker',
    )
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const status = await withDatabase((db) => outboxStatus(db))
      if (options.json) return say(JSON.stringify(status, null, 2))
      say(`pending   ${status.pending}`)
      say(`oldest    ${status.oldestPendingAgeSeconds.toFixed(1)} s`)
      say(`dead      ${status.dead}`)
      for (const [type, count] of Object.entries(status.pendingByType))
        say(`  ${type.padEnd(28)} ${count} pending`)
      if (status.relays.length === 0) say('relays    none running')
      for (const relay of status.relays) {
        say(
          `relay     ${relay.id}  breaker ${relay.breaker}  heartbeat ${relay.lastHeartbeatSecondsAgo} s ago`,
        )
      }
    })

  const dlq = program.command('dlq').description('events that went to payment.dlq')
  dlq
    .command('list')
    .description('dead events, oldest first')
    .option('--limit <n>', 'how many', '100')
    .action(async (options: { limit: string }) => {
      const limit = Number(options.limit)
      if (!Number.isInteger(limit) || limit < 1)
        throw new PayrailError('USAGE', `--limit must be a positive integer (got ${options.limit})`)
      const rows = await withDatabase((db) => listDead(db, limit))
      if (rows.length === 0) say('no dead events')
      for (const row of rows) {
        say(
          `${row.event_id}  ${row.event_type}  payment ${row.payment_id}  attempts ${row.attempts}  ${row.last_error ?? ''}`,
        )
      }
    })
  dlq
    .command('replay')
    .description('put a dead event (or all of them) back in line for the relay')
    .argument('[eventId]', 'the event to replay')
    .option('--all', 'replay every dead event')
    .action(async (eventId: string | undefined, options: { all?: boolean }) => {
      if ((eventId === undefined) === (options.all !== true)) {
        throw new PayrailError('USAGE', 'give either an eventId or --all')
      }
      const count = await withDatabase((db) =>
        replayDead(db, options.all ? 'all' : { eventId: eventId as string }),
      )
      if (count === 0 && !options.all) throw new PayrailError('NOT_FOUND', `no dead event ${eventId}`)
      say(`replayed ${count} event${count === 1 ? '' : 's'}`)
    })
}
