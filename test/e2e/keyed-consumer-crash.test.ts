import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { consumerFixture, endOffsets, interleaved } from '../helpers/consumer.ts'
import { until } from '../helpers/until.ts'

interface Worker {
  child: ChildProcess
  output: () => string
  exited: Promise<unknown>
}

function startWorker(env: Record<string, string>): Worker {
  const child = spawn(process.execPath, [join(ROOT, 'test', 'e2e', 'fixtures', 'keyed-consumer-child.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  return { child, output: () => output, exited: once(child, 'exit') }
}

function lines(file: string): { id: string; key: string; sequence: number }[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [id, key, sequence] = line.split(' ')
      return { id: id as string, key: key as string, sequence: Number(sequence) }
    })
}

test('a worker process killed with SIGKILL mid-stream and started again misses no record', {
  timeout: 120_000,
}, async (t) => {
  const kafka = await consumerFixture(t, interleaved(50, 100))
  if (kafka === undefined) return
  const { brokers, topic, group } = kafka
  // 5,000 records: the kill comes after 500, with a wide margin before the end on a fast machine.
  const ends = await endOffsets(brokers, topic, 6)
  const dir = mkdtempSync(join(tmpdir(), 'payrail-consumer-e2e-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const env = { BROKERS: brokers, TOPIC: topic, GROUP: group }
  const firstOut = join(dir, 'first.log')
  const secondOut = join(dir, 'second.log')

  const first = startWorker({ ...env, OUT: firstOut })
  t.after(() => first.child.kill('SIGKILL'))
  await until('the first worker to be under way', () => lines(firstOut).length >= 500, {
    timeoutMs: 60_000,
  }).catch((error) => {
    throw new Error(`${error.message}\n${first.output()}`)
  })
  first.child.kill('SIGKILL')
  await first.exited
  const handledBefore = lines(firstOut).length
  assert.ok(handledBefore < 5000, `killed mid-stream (after ${handledBefore})`)
  t.diagnostic(`killed after ${handledBefore} of 5000 records`)

  const second = startWorker({ ...env, OUT: secondOut })
  t.after(() => second.child.kill('SIGKILL'))
  const missing = () => {
    const seen = new Set([...lines(firstOut), ...lines(secondOut)].map((line) => line.id))
    const gaps: string[] = []
    for (const [partition, end] of ends)
      for (let o = 0n; o < end; o++) if (!seen.has(`${partition}:${o}`)) gaps.push(`${partition}:${o}`)
    return gaps
  }
  await until('every record to be handled by one of the workers', () => missing().length === 0, {
    timeoutMs: 60_000,
  }).catch((error) => {
    throw new Error(`${error.message}; missing ${missing().slice(0, 10).join(', ')}\n${second.output()}`)
  })
  second.child.kill('SIGTERM')
  const [code] = (await second.exited) as [number | null]
  assert.equal(code, 0, `clean stop:\n${second.output()}`)

  // Each run handled each key's records in order (the second one from its group's commit on).
  for (const file of [firstOut, secondOut]) {
    const last = new Map<string, number>()
    for (const { key, sequence } of lines(file)) {
      assert.ok(sequence > (last.get(key) ?? 0), `${file}: ${key} ${sequence} after ${last.get(key)}`)
      last.set(key, sequence)
    }
  }
})
