import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Tracer } from '../../src/gateway/trace.ts'

const tracer = new Tracer()
const continueTrace = (traceparent: string | undefined, tracestate: string | undefined) =>
  tracer.continue(traceparent, tracestate)

const VALID = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

test('a valid traceparent is continued: same trace and flags, the gateway as the new parent, tracestate kept', () => {
  const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  const trace = continueTrace(incoming, 'vendor=abc')
  assert.equal(trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  assert.match(trace.traceparent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
  assert.notEqual(trace.traceparent.split('-')[2], '00f067aa0ba902b7')
  assert.equal(trace.tracestate, 'vendor=abc')
  assert.equal(
    continueTrace('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', undefined).traceparent.slice(-2),
    '00',
  )
})

test('a missing or invalid traceparent starts a new trace and drops tracestate', () => {
  for (const bad of [
    undefined,
    'garbage',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
  ]) {
    const trace = continueTrace(bad, 'vendor=abc')
    assert.match(trace.traceparent, VALID, String(bad))
    assert.notEqual(trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', String(bad))
    assert.equal(trace.tracestate, undefined, String(bad))
  }
  assert.notEqual(continueTrace(undefined, undefined).traceId, continueTrace(undefined, undefined).traceId)
})

test('a later version is read for its trace id and flags', () => {
  const trace = continueTrace('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future', undefined)
  assert.equal(trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  assert.match(trace.traceparent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-/)
})

test('ids stay unique across many requests (the entropy buffer is refilled, never reused)', () => {
  const fresh = new Tracer()
  const ids = new Set<string>()
  const spans = new Set<string>()
  for (let i = 0; i < 2000; i++) {
    const trace = fresh.continue(undefined, undefined)
    ids.add(trace.traceId)
    spans.add(trace.traceparent.split('-')[2] as string)
  }
  assert.equal(ids.size, 2000)
  assert.equal(spans.size, 2000)
})
