import type { Command } from 'commander'
import { checkLedger } from '../../ledger/check.ts'
import { say, warn, withDatabase } from '../context.ts'

export function registerLedger(program: Command): void {
  const ledger = program.command('ledger').description('the double-entry ledger the ledger worker posts')
  ledger
    .command('check')
    .description(
      "verify that every payment's ledger balances and matches its captured minus refunded amount; exits 1 and lists offenders otherwise",
    )
    .option('--limit <n>', 'offenders to list', '50')
    .action(async (options: { limit: string }) => {
      const limit = Number(options.limit)
      if (!Number.isInteger(limit) || limit < 1) {
        warn(`--limit must be a whole number of at least 1 (got ${options.limit})`)
        process.exitCode = 2
        return
      }
      const report = await withDatabase((db) => checkLedger(db))
      if (report.offenders.length === 0) {
        say(`ledger balances: ${report.payments} payments, ${report.entries} entries, 0 offenders`)
        return
      }
      say(`ledger does NOT balance: ${report.offenders.length} of ${report.payments} payments are off`)
      say('payment                               status            expected     posted   debits  credits')
      for (const o of report.offenders.slice(0, limit)) {
        say(
          `${o.paymentId.padEnd(37)} ${o.status.padEnd(17)} ${String(o.expected).padStart(8)} ${String(o.posted).padStart(10)} ${String(o.debits).padStart(8)} ${String(o.credits).padStart(8)}`,
        )
      }
      if (report.offenders.length > limit) say(`… and ${report.offenders.length - limit} more`)
      process.exitCode = 1
    })
}
