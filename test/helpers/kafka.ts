import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { startBroker, stopBroker } from '../../src/kafka/local-broker/broker.ts'
import { ensureTopicsOn } from '../../src/kafka/topics.ts'
import { freePort } from '../../support/processes.ts'
import type { ThrowawayDatabase } from './databases.ts'

/**
 * A Kafka broker of this test's own, with the topics of DESIGN.md and nothing in them, so that
 * workers of this test consume only its events (a new consumer group starts from the earliest
 * record, and the shared broker's topics hold every other test's). Stopped and deleted after the
 * processes registered later on `owner` (a test database, or the test itself) have stopped.
 */
export async function privateBroker(
  owner: Pick<ThrowawayDatabase, 'beforeClose'> | TestContext,
): Promise<string> {
  const stateDir = mkdtempSync(join(tmpdir(), 'payrail-broker-'))
  const broker = {
    root: ROOT,
    stateDir,
    port: await freePort(),
    controllerPort: await freePort(),
    say: () => {},
  }
  const stop = async () => {
    await stopBroker(broker, 10_000, 'SIGKILL')
    rmSync(stateDir, { recursive: true, force: true })
  }
  if ('beforeClose' in owner) owner.beforeClose(stop)
  else owner.after(stop)
  await startBroker(broker)
  const brokers = `127.0.0.1:${broker.port}`
  await ensureTopicsOn({ brokers: [brokers], clientId: 'payrail-test' })
  return brokers
}
