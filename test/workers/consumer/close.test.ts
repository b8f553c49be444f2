import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ROOT } from '../../../src/cli/context.ts'
import { createAdmin } from '../../../src/kafka/connection.ts'
import {
  committedOffsets,
  consumerFixture,
  endOffsets,
  interleaved,
  startConsumer,
} from '../../helpers/consumer.ts'
import { until } from '../../helpers/until.ts'

interface Member {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<[number | null, NodeJS.Signals | null]>
}

function startMember(env: Record<string, string>): Member {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'test', 'workers', 'consumer', 'fixtures', 'closing-member.ts')],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr?.on('data', (chunk) => {
    stderr += chunk
  })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>,
  }
}

function handled(file: string): string[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
}

test('a member stopped while the group rebalances commits its work, leaves, and its process exits as soon as close() resolves', {
  timeout: 180_000,
}, async (t) => {
  const kafka = await consumerFixture(t, interleaved(40, 30))
  if (kafka === undefined) return
  const { brokers, topic, group } = kafka
  const ends = await endOffsets(brokers, topic, 6)
  const total = [...ends.values()].reduce((sum, end) => sum + Number(end), 0)
  const dir = mkdtempSync(join(tmpdir(), 'payrail-consumer-close-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'closing.log')

  const member = startMember({ BROKERS: brokers, TOPIC: topic, GROUP: group, OUT: out })
  t.after(() => member.child.kill('SIGKILL'))
  const context = () => `\n--- stdout\n${member.stdout()}\n--- stderr\n${member.stderr()}`
  await until('the member to be under way', () => handled(out).length >= 100, { timeoutMs: 60_000 }).catch(
    (error) => {
      throw new Error(`${error.message}${context()}`)
    },
  )

  // A second member joins: the cooperative rebalance takes some partitions from the first one,
  // which gives them back (`partitions revoked`) and rejoins at once; the group then waits for
  // the second member, whose heartbeat is slow, to rejoin as well. The stop lands in that wait.
  const finished = new Set<string>()
  const second = startConsumer(t, {
    brokers: brokers.split(','),
    groupId: group,
    topics: [topic],
    name: 'second',
    concurrency: 4,
    heartbeatIntervalMs: 3000,
    handler: async (record, signal) => {
      await sleep(5, undefined, { signal })
      finished.add(`${record.partition}:${record.offset}`)
    },
  })
  const revokedBefore = member.stderr().split('partitions revoked').length
  const started = second.start()
  await until(
    'the first member to give partitions back',
    () => member.stderr().split('partitions revoked').length > revokedBefore,
    { timeoutMs: 30_000 },
  ).catch((error) => {
    throw new Error(`${error.message}${context()}`)
  })
  const stopping = Date.now()
  member.child.kill('SIGTERM')
  await started

  let closedAt: number | undefined
  await until(
    'close() to resolve',
    () => {
      if (closedAt === undefined && /^closed /m.test(member.stdout())) closedAt = Date.now()
      return closedAt !== undefined || member.child.exitCode !== null
    },
    { timeoutMs: 60_000 },
  ).catch((error) => {
    throw new Error(`${error.message}${context()}`)
  })
  const patience = new AbortController()
  const [code] = await Promise.race([
    member.exited,
    sleep(30_000, undefined, { signal: patience.signal }).then(
      (): [null, null] => [null, null],
      (): [null, null] => [null, null],
    ),
  ])
  patience.abort()
  const exitedAt = Date.now()
  t.diagnostic(
    `close() took ${(((closedAt ?? exitedAt) - stopping) / 1000).toFixed(1)} s, the exit ${((exitedAt - (closedAt ?? exitedAt)) / 1000).toFixed(1)} s more`,
  )
  assert.equal(code, 0, `the member exits by itself, cleanly${context()}`)
  assert.ok(closedAt !== undefined, `close() resolved${context()}`)
  assert.ok(
    exitedAt - closedAt < 2000,
    `the process exits right after close(): ${exitedAt - closedAt} ms${context()}`,
  )
  const kept = JSON.parse(/^closed (.*)$/m.exec(member.stdout())?.[1] ?? '[]') as string[]
  assert.deepEqual(
    kept.filter((name) => name !== 'Immediate'),
    [],
    `nothing of the consumer is left once close() resolved${context()}`,
  )
  // The rebalance it waits for ends with the second member's next heartbeat (3 s).
  assert.ok(closedAt - stopping < 10_000, `close() took ${closedAt - stopping} ms${context()}`)
  assert.doesNotMatch(member.stderr(), /partition lost/, 'the member gave its partitions back, none was lost')
  assert.doesNotMatch(member.stderr(), /could not commit/, 'the member committed what it finished')

  // The second member takes everything over, from exactly where the first one committed.
  const first = handled(out)
  await until('every record to be handled', () => new Set([...first, ...finished]).size === total, {
    timeoutMs: 60_000,
  })
  assert.ok(first.length < total, 'stopped mid-stream')
  assert.equal(new Set(first).size, first.length, 'the first member ran no record twice')
  const twice = first.filter((id) => finished.has(id))
  assert.deepEqual(twice, [], 'no record finished by the stopped member ran again on the other one')
})

/** The members of the group the broker knows now (a member that left is gone at once). */
async function groupMembers(brokers: string, group: string): Promise<number> {
  const admin = createAdmin({ brokers: brokers.split(','), clientId: 'payrail-test', retries: 3 })
  try {
    const groups = await admin.describeGroups({ groups: [group] })
    return groups.get(group)?.members.size ?? 0
  } finally {
    await admin.close()
  }
}

// close() at any moment after start(): the member commits exactly what it finished, leaves the
// group, and its process exits by itself at once. Right after start (no fetch made yet, or the
// replacement session's first one) is when the library refused to leave ("Cannot leave group
// while consuming messages") and the Kafka client stayed half-open, its timers running.
const moments: { closeAt: string; when: string; closesWithin: number; handledAtLeast: number }[] = [
  { closeAt: 'started', when: 'as soon as start() resolved', closesWithin: 3000, handledAtLeast: 0 },
  {
    closeAt: 'first-record',
    when: 'as the first record is dispatched',
    closesWithin: 3000,
    handledAtLeast: 1,
  },
  { closeAt: 'in-flight', when: 'while records are in flight', closesWithin: 3000, handledAtLeast: 100 },
  {
    closeAt: 'restart',
    when: 'while a broken session is wound down',
    closesWithin: 5000,
    handledAtLeast: 50,
  },
  {
    closeAt: 'restored',
    when: 'as soon as a new session replaced a broken one',
    closesWithin: 5000,
    handledAtLeast: 50,
  },
]

for (const { closeAt, when, closesWithin, handledAtLeast } of moments) {
  test(`a member closed ${when} commits what it finished, leaves the group, and its process exits by itself at once`, {
    timeout: 120_000,
  }, async (t) => {
    const kafka = await consumerFixture(t, interleaved(40, 10))
    if (kafka === undefined) return
    const { brokers, topic, group } = kafka
    const dir = mkdtempSync(join(tmpdir(), 'payrail-consumer-close-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const out = join(dir, 'closing.log')

    const member = startMember({ BROKERS: brokers, TOPIC: topic, GROUP: group, OUT: out, CLOSE_AT: closeAt })
    t.after(() => member.child.kill('SIGKILL'))
    const context = () => `\n--- stdout\n${member.stdout()}\n--- stderr\n${member.stderr()}`
    let closingAt: number | undefined
    let closedAt: number | undefined
    await until(
      'close() to resolve',
      () => {
        if (closingAt === undefined && /^closing$/m.test(member.stdout())) closingAt = Date.now()
        if (closedAt === undefined && /^closed /m.test(member.stdout())) closedAt = Date.now()
        return closedAt !== undefined || member.child.exitCode !== null
      },
      { timeoutMs: 60_000 },
    ).catch((error) => {
      throw new Error(`${error.message}${context()}`)
    })
    const patience = new AbortController()
    const [code] = await Promise.race([
      member.exited,
      sleep(10_000, undefined, { signal: patience.signal }).then(
        (): [null, null] => [null, null],
        (): [null, null] => [null, null],
      ),
    ])
    patience.abort()
    const exitedAt = Date.now()
    assert.ok(
      closingAt !== undefined && closedAt !== undefined,
      `close() was called and resolved${context()}`,
    )
    t.diagnostic(`close() took ${closedAt - closingAt} ms, the exit ${exitedAt - closedAt} ms more`)
    assert.equal(code, 0, `the member exits by itself, cleanly${context()}`)
    assert.ok(
      exitedAt - closedAt < 2000,
      `the process exits right after close(): ${exitedAt - closedAt} ms${context()}`,
    )
    assert.ok(closedAt - closingAt < closesWithin, `close() took ${closedAt - closingAt} ms${context()}`)
    const kept = JSON.parse(/^closed (.*)$/m.exec(member.stdout())?.[1] ?? '[]') as string[]
    assert.deepEqual(
      kept.filter((name) => name !== 'Immediate'),
      [],
      `nothing of the consumer is left once close() resolved${context()}`,
    )
    assert.doesNotMatch(
      member.stderr(),
      /could not leave|could not close|could not commit|did not close|still under way/,
      `a clean leave${context()}`,
    )
    const errors = member
      .stderr()
      .split('\n')
      .filter((line) => line.includes('"level":50') && !line.includes('Kafka session failed'))
    assert.deepEqual(errors, [], `no error logged but the injected session failure${context()}`)
    // It left: the group has no member now (one that did not would stay for the session timeout).
    assert.equal(await groupMembers(brokers, group), 0, `the member left the group${context()}`)

    // What it committed is exactly what it finished: the next member neither misses nor repeats a record.
    const first = handled(out)
    assert.ok(first.length >= handledAtLeast, `${first.length} records handled${context()}`)
    assert.equal(new Set(first).size, first.length, 'the member ran no record twice')
    const committed = await committedOffsets(brokers, group, topic)
    const ends = await endOffsets(brokers, topic, 6)
    for (let partition = 0; partition < 6; partition++) {
      const position = Number(committed.get(partition) ?? -1n)
      const expected = Array.from({ length: Math.max(0, position) }, (_, offset) => offset)
      const finished = first
        .filter((id) => id.startsWith(`${partition}:`))
        .map((id) => Number(id.split(':')[1]))
        .sort((a, b) => a - b)
      assert.deepEqual(
        finished,
        expected,
        `partition ${partition}: finished offsets = those below the commit ${position}${context()}`,
      )
      assert.ok(position <= Number(ends.get(partition)), `partition ${partition}`)
    }
  })
}
