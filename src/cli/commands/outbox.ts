import type { Command } from 'commander'
import { PayrailError } from '../../domain/errors.ts'
import { bootstrapBrokers } from '../../kafka/connection.ts'
import {
  type ConsumerDeadLetter,
  isConsumerDeadLetterId,
  listConsumerDeadLetters,
  replayConsumerDeadLetters,
} from '../../outbox/consumer-dead-letters.ts'
import { listDead, outboxStatus, replayDead } from '../../outbox/status.ts'
import { config, countOption, say, warn, withDatabase } from '../context.ts'

function dlqOptions() {
  const cfg = config()
  return { brokers: bootstrapBrokers(cfg), clientId: cfg.KAFKA_CLIENT_ID }
}

function describeLetter(letter: ConsumerDeadLetter): string {
  const what = letter.eventId === null ? `key ${letter.key ?? '(none)'}` : `event ${letter.eventId}`
  const state = letter.applied ? '  (applied since)' : ''
  return `${letter.id}  ${letter.failedBy} ${letter.originalTopic}@${letter.originalPartition}:${letter.originalOffset}  ${what}  attempts ${letter.attempts}  ${letter.errorCode} ${letter.errorMessage}${state}`
}

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
      const limit = countOption('--limit', options.limit)
      const { rows, letters } = await withDatabase(async (db) => {
        const rows = await listDead(db, limit)
        // The relay's dead letters are in the database; the workers' only in payment.dlq.
        const letters = await listConsumerDeadLetters(db, { ...dlqOptions(), limit }).catch(
          (error: unknown) => {
            warn(`the workers' dead letters are not listed: ${(error as Error).message}`)
            return []
          },
        )
        return { rows, letters }
      })
      if (rows.length === 0 && letters.length === 0) say('no dead events')
      for (const row of rows) {
        say(
          `${row.event_id}  ${row.event_type}  payment ${row.payment_id}  attempts ${row.attempts}  ${row.last_error ?? ''}`,
        )
      }
      if (letters.length > 0) say("workers' dead letters (replay by <partition>:<offset>):")
      for (const letter of letters) say(describeLetter(letter))
    })
  dlq
    .command('replay')
    .description(
      "put a dead event back in line for the relay (by event id), or a worker's dead letter back on its topic (by <partition>:<offset> in payment.dlq); --all does both",
    )
    .argument('[id]', "the event id, or the dead letter's <partition>:<offset>")
    .option(
      '--all',
      "replay every dead event, and every worker's dead letter whose event was not applied since",
    )
    .action(async (eventId: string | undefined, options: { all?: boolean }) => {
      if ((eventId === undefined) === (options.all !== true)) {
        throw new PayrailError('USAGE', 'give either an eventId or --all')
      }
      const count = await withDatabase(async (db) => {
        if (options.all) {
          const relay = await replayDead(db, 'all')
          return relay + (await replayConsumerDeadLetters(db, 'all', dlqOptions()))
        }
        const id = eventId as string
        if (isConsumerDeadLetterId(id)) return replayConsumerDeadLetters(db, { id }, dlqOptions())
        return replayDead(db, { eventId: id })
      })
      if (count === 0 && !options.all) throw new PayrailError('NOT_FOUND', `no dead event ${eventId}`)
      say(`replayed ${count} event${count === 1 ? '' : 's'}`)
    })
}
