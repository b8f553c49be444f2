import type { Command } from 'commander'
import { checkLedger, ledgerIsClean } from '../../ledger/check.ts'
import { recordLedgerCheck } from '../../ledger/check-store.ts'
import { countOption, say, withDatabase } from '../context.ts'

export function registerLedger(program: Command): void {
  const ledger = program.command('ledger').description('the double-entry ledger the ledger worker posts')
  ledger
    .command('check')
    .description(
      "verify the ledger: trial balance per currency, every capture and refund posted exactly once as it happened, and each payment's receivable equal to captured minus refunded; exits 1 and lists what is off otherwise",
    )
    .option('--limit <n>', 'offenders to list', '50')
    .action(async (options: { limit: string }) => {
      const limit = countOption('--limit', options.limit)
      // Stored, so the dashboard's ledger page shows the last result (GET /api/admin/ledger).
      const report = await withDatabase(async (db) => {
        const checked = await checkLedger(db)
        await recordLedgerCheck(db, checked, 'cli')
        return checked
      })
      for (const [currency, balances] of report.trialBalance) {
        const accounts = [...balances].map(([account, balance]) => `${account} ${balance}`).join(', ')
        say(`trial balance ${currency}: ${accounts}`)
      }
      if (ledgerIsClean(report)) {
        say(
          `ledger balances: ${report.payments} payments, ${report.entries} entries, 0 offenders; ${report.events} captures and refunds posted once each`,
        )
        return
      }
      say(
        `ledger does NOT balance: ${report.offenders.length} of ${report.payments} payments off, ${report.postings.length} postings wrong, ${report.unbalanced.length} currencies unbalanced`,
      )
      for (const currency of report.unbalanced)
        say(`currency ${currency}: receivable and payable do not sum to zero (an entry on another account)`)
      if (report.offenders.length > 0)
        say('payment                               status            expected     posted')
      for (const o of report.offenders.slice(0, limit)) {
        say(
          `${o.paymentId.padEnd(37)} ${o.status.padEnd(17)} ${String(o.expected).padStart(8)} ${String(o.posted).padStart(10)}`,
        )
      }
      if (report.offenders.length > limit) say(`… and ${report.offenders.length - limit} more`)
      for (const p of report.postings.slice(0, limit))
        say(`posting ${p.kind}: payment ${p.paymentId} event ${p.eventId}`)
      if (report.postings.length > limit) say(`… and ${report.postings.length - limit} more postings`)
      process.exitCode = 1
    })
}
