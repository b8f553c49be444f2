import type { Command } from 'commander'
import { listAdminAudit } from '../../db/admin-audit.ts'
import { countOption, say, withDatabase } from '../context.ts'

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('the operations plane')
  admin
    .command('audit')
    .description(
      'every request to the operations endpoints, newest first: when, who, what, from where, status',
    )
    .option('--limit <n>', 'entries to show', '100')
    .option('--json', 'one JSON object per line')
    .action(async (options: { limit: string; json?: boolean }) => {
      const limit = countOption('--limit', options.limit, 1, 100_000)
      const entries = await withDatabase((db) => listAdminAudit(db, limit))
      if (options.json === true) {
        for (const entry of entries) say(JSON.stringify(entry))
        return
      }
      if (entries.length === 0) {
        say('no admin requests recorded')
        return
      }
      for (const entry of entries) {
        say(
          [
            new Date(entry.at).toISOString(),
            entry.status === null ? '---' : String(entry.status),
            entry.actor,
            entry.action,
            entry.target ?? '-',
            `from ${entry.source}`,
            `request ${entry.request_id}`,
          ].join('  '),
        )
      }
    })
}
