import { Command } from 'commander'
import { exitQuietlyWhenOutputCloses } from './closed-output.ts'
import { registerAdmin } from './commands/admin.ts'
import { registerBench } from './commands/bench.ts'
import { registerChaos } from './commands/chaos.ts'
import { registerKafka } from './commands/kafka.ts'
import { registerLedger } from './commands/ledger.ts'
import { registerLoad } from './commands/load.ts'
import { registerMerchant } from './commands/merchant.ts'
import { registerMigrate } from './commands/migrate.ts'
import { registerMonitoring } from './commands/monitoring.ts'
import { registerOutbox } from './commands/outbox.ts'
import { registerRoles } from './commands/roles.ts'
import { registerTest } from './commands/test.ts'
import { registerTopics } from './commands/topics.ts'
import { registerUp } from './commands/up.ts'
import { reportFailure } from './failure.ts'

exitQuietlyWhenOutputCloses()

const program = new Command('payrail')
  .description('payrail: payment API, transactional outbox, Kafka relay and workers')
  .showSuggestionAfterError()
  .showHelpAfterError('(run `payrail --help` for the list of commands)')
  .exitOverride()

registerUp(program)
registerRoles(program)
registerMerchant(program)
registerAdmin(program)
registerOutbox(program)
registerLedger(program)
registerKafka(program)
registerTopics(program)
registerMigrate(program)
registerTest(program)
registerBench(program)
registerLoad(program)
registerChaos(program)
registerMonitoring(program)

try {
  await program.parseAsync(process.argv)
} catch (error) {
  process.exitCode = reportFailure(error)
}
