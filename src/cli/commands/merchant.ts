import type { Command } from 'commander'
import { issueApiKey, revokeApiKey } from '../../db/merchants.ts'
import { PayrailError } from '../../domain/errors.ts'
import { say, withDatabase } from '../context.ts'

export function registerMerchant(program: Command): void {
  const merchant = program.command('merchant').description('manage merchants and their API keys')
  merchant
    .command('create')
    .description('create a merchant (if new) and print a new API key; the key is shown only this once')
    .argument('<merchantId>', "the merchant's id: 1-64 letters, digits, '.', '_', ':' or '-'")
    .option('--name <name>', 'display name (default: the id)')
    .action(async (merchantId: string, options: { name?: string }) => {
      const issued = await withDatabase((db) => issueApiKey(db, merchantId, options.name))
      say(`merchant ${issued.merchantId}`)
      say(`api key  ${issued.key}`)
      say(
        `(store it now: only its hash is kept; revoke it with \`payrail merchant revoke ${issued.prefix}\`)`,
      )
    })
  merchant
    .command('revoke')
    .description('revoke the API key that starts with this prefix')
    .argument('<keyPrefix>', 'the first 12 characters of the key, as printed at creation')
    .action(async (prefix: string) => {
      const merchantId = await withDatabase((db) => revokeApiKey(db, prefix))
      if (merchantId === undefined)
        throw new PayrailError('NOT_FOUND', `no active API key starts with ${prefix}`)
      say(`revoked key ${prefix} of merchant ${merchantId}`)
    })
}
