// A consumer started while Kafka is down, or whose broker dies while it joins its group (payrail
// chaos: a worker restarted after a kill -9, the group rebalancing, the broker killed 2.6 s into
// the join), keeps trying with backoff until the broker answers, instead of failing start() and
// taking the worker process down. close() during that wait ends it at once.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { type TestContext, test } from 'node:test'
import { consumerGroupChannel } from '@platformatic/kafka'
import { ROOT } from '../../../src/cli/context.ts'
import { createAdmin } from '../../../src/kafka/connection.ts'
import { startBroker, stopBroker } from '../../../src/kafka/local-broker/broker.ts'
import { createLogger } from '../../../src/observability/logger.ts'
import { freePort } from '../../../support/processes.ts'
import { parse, produce, startConsumer } from '../../helpers/consumer.ts'
import { until } from '../../helpers/until.ts'

const FIXTURES = join(ROOT, 'test', 'workers', 'consumer', 'fixtures')

/** A private broker on ports chosen up front, which the test starts and SIGKILLs as it likes. */
async function ownBroker(t: TestContext) {
  const stateDir = mkdtempSync(join(tmpdir(), 'payrail-broker-'))
  const broker = {
    root: ROOT,
    stateDir,
    port: await freePort(),
    controllerPort: await freePort(),
    say: () => {},
  }
  t.after(async () => {
    await stopBroker(broker, 10_000, 'SIGKILL')
    rmSync(stateDir, { recursive: true, force: true })
  })
  return {
    brokers: `127.0.0.1:${broker.port}`,
    start: () => startBroker(broker),
    kill: () => stopBroker(broker, 10_000, 'SIGKILL'),
  }
}

/** Log lines of a consumer, to see that it keeps trying. */
function capturedLogger() {
  const lines: string[] = []
  const logger = createLogger({
    role: 'worker',
    format: 'json',
    stream: new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    }),
  })
  return { logger, lines, has: (text: string) => lines.some((line) => line.includes(text)) }
}

async function createTopic(brokers: string, topic: string): Promise<void> {
  const admin = createAdmin({ brokers: [brokers], clientId: 'payrail-test', retries: 3 })
  try {
    await admin.createTopics({ topics: [topic], partitions: 2, replicas: 1 })
  } finally {
    await admin.close()
  }
}

function run(file: string, env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [join(FIXTURES, file)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr?.on('data', (chunk) => {
    stderr += chunk
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, exited, stdout: () => stdout, stderr: () => stderr }
}

test('a consumer started while its broker is down joins once the broker is up and handles what comes', {
  timeout: 120_000,
}, async (t) => {
  const broker = await ownBroker(t)
  const topic = 'payrail-test-start-outage'
  await broker.start()
  await createTopic(broker.brokers, topic)
  await broker.kill()

  const log = capturedLogger()
  const handled: string[] = []
  const consumer = startConsumer(t, {
    brokers: [broker.brokers],
    groupId: 'payrail-test-start-outage-a',
    topics: [topic],
    restartDelayMs: 200,
    logger: log.logger,
    handler: async (record) => {
      handled.push(parse(record.value).eventId)
    },
  })
  let outcome: 'pending' | 'resolved' | unknown = 'pending'
  consumer.start().then(
    () => {
      outcome = 'resolved'
    },
    (error: unknown) => {
      outcome = error
    },
  )
  // Nothing listens on the port: the first join fails within ~3 s, and start() must not.
  await until(
    'the consumer to say it keeps trying',
    () => log.has('Kafka is unreachable') || outcome !== 'pending',
    {
      timeoutMs: 20_000,
    },
  )
  assert.equal(outcome, 'pending', `start() settled while Kafka was down: ${String(outcome)}`)
  // What /readyz of the worker role reads: not ready until the group is joined.
  assert.equal(consumer.status().state, 'starting')

  await broker.start()
  await until('start() to resolve', () => outcome !== 'pending', { timeoutMs: 60_000 })
  assert.equal(outcome, 'resolved')
  assert.equal(consumer.status().state, 'running')
  await produce(broker.brokers, topic, [{ key: 'k1', sequence: 1 }])
  await until('the record to be handled', () => handled.includes('k1-1'), { timeoutMs: 30_000 })
})

test('a consumer whose broker is SIGKILLed during its join keeps trying and joins once the broker is back', {
  timeout: 120_000,
}, async (t) => {
  const broker = await ownBroker(t)
  const topic = 'payrail-test-join-outage'
  const group = 'payrail-test-start-outage-b'
  await broker.start()
  await createTopic(broker.brokers, topic)

  // A member killed like the worker before it: the group waits for it (up to its 6 s session)
  // when the next member joins, so the join below takes seconds.
  const stuck = run('stuck-member.ts', {
    BROKERS: broker.brokers,
    TOPIC: topic,
    GROUP: group,
    SESSION_TIMEOUT_MS: '6000',
  })
  t.after(() => stuck.child.kill('SIGKILL'))
  await until('the first member to join', () => stuck.stdout().includes('joined'), {
    timeoutMs: 30_000,
  }).catch((error: Error) => {
    throw new Error(`${error.message}\n${stuck.stderr()}`)
  })
  stuck.child.kill('SIGKILL')
  await stuck.exited

  // The consumer's JoinGroup requests, seen on the library's diagnostics channel.
  let joins = 0
  const onJoin = {
    start: (message: unknown) => {
      const { operation, client } = message as { operation?: string; client?: { groupId?: string } }
      if (operation === 'joinGroup' && client?.groupId === group) joins++
    },
    end: () => {},
    asyncStart: () => {},
    asyncEnd: () => {},
    error: () => {},
  }
  consumerGroupChannel.subscribe(onJoin)
  t.after(() => consumerGroupChannel.unsubscribe(onJoin))

  const log = capturedLogger()
  const handled: string[] = []
  const consumer = startConsumer(t, {
    brokers: [broker.brokers],
    groupId: group,
    topics: [topic],
    restartDelayMs: 200,
    logger: log.logger,
    handler: async (record) => {
      handled.push(parse(record.value).eventId)
    },
  })
  let outcome: 'pending' | 'resolved' | unknown = 'pending'
  consumer.start().then(
    () => {
      outcome = 'resolved'
    },
    (error: unknown) => {
      outcome = error
    },
  )
  await until('the consumer to be joining the group', () => joins > 0, { timeoutMs: 20_000 })
  // The join waits for the dead member; the broker dies meanwhile.
  assert.equal(outcome, 'pending', 'the join was expected to be slow')
  await broker.kill()
  await until(
    'the consumer to say it keeps trying',
    () => log.has('Kafka is unreachable') || outcome !== 'pending',
    {
      timeoutMs: 30_000,
    },
  )
  assert.equal(outcome, 'pending', `start() settled while Kafka was down: ${String(outcome)}`)
  assert.equal(consumer.status().state, 'starting')

  await broker.start()
  await until('start() to resolve', () => outcome !== 'pending', { timeoutMs: 60_000 })
  assert.equal(outcome, 'resolved', String(outcome))
  await produce(broker.brokers, topic, [{ key: 'k2', sequence: 1 }])
  await until('the record to be handled', () => handled.includes('k2-1'), { timeoutMs: 30_000 })
})

for (const [when, env] of [
  ['between attempts', { RESTART_DELAY_MS: '10000', CLOSE_AFTER_MS: '300' }],
  ['during an attempt', { RESTART_DELAY_MS: '50', CLOSE_AFTER_MS: '1200' }],
] as const) {
  test(`close() while start() waits for Kafka (${when}) ends the wait at once and leaves nothing open`, {
    timeout: 60_000,
  }, async (t) => {
    const member = run('start-wait-member.ts', { BROKERS: `127.0.0.1:${await freePort()}`, ...env })
    t.after(() => member.child.kill('SIGKILL'))
    const context = () => `\n--- stdout\n${member.stdout()}\n--- stderr\n${member.stderr()}`
    await until('close() to resolve', () => member.stdout().includes('closed'), { timeoutMs: 30_000 }).catch(
      (error: Error) => {
        throw new Error(`${error.message}${context()}`)
      },
    )
    const closedAt = Date.now()
    const [, took, started, state] = member.stdout().trim().split(' ')
    assert.equal(state, 'starting', context())
    assert.ok(Number(took) < 1000, `close() took ${took} ms${context()}`)
    assert.equal(started, 'rejected:CONSUMER_CLOSED', context())
    // Nothing of the consumer (socket, timer) keeps the process alive once close() resolved.
    const exit = await Promise.race([
      member.exited,
      until('the process to exit', () => false, { timeoutMs: 3000 }),
    ])
    assert.deepEqual(exit, [0, null], context())
    assert.ok(Date.now() - closedAt < 3000)
  })
}
