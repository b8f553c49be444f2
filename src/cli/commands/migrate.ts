import type { Command } from 'commander'
import { config, runMigrations, say } from '../context.ts'

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations to DATABASE_URL (safe to run twice or concurrently)')
    .action(async () => {
      const result = await runMigrations(config())
      say(
        result.applied.length === 0
          ? `database ${result.safeUrl} is up to date (${result.current.length} migrations)`
          : `applied ${result.applied.join(', ')} to ${result.safeUrl}`,
      )
    })
}
