import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CircuitState } from 'cockatiel'
import { Type } from 'typebox'
import { AcquirerClient } from '../../src/acquirer/client.ts'
import { hasErrorCode } from '../../src/domain/errors.ts'
import { backoff } from '../../src/runtime/backoff.ts'
import { BREAKER_GAUGE_VALUE, breakerStateOf } from '../../src/runtime/breaker.ts'
import { withDeadline } from '../../src/runtime/deadline.ts'
import { type OptionRule, resolveOptions, wholeNumber, withDefaults } from '../../src/runtime/options.ts'

const schema = Type.Object({
  size: wholeNumber(1, 10),
  name: Type.String({ minLength: 1, problem: 'must be a non-empty name' }),
  token: Type.String({ minLength: 8, secret: true, problem: 'must be at least 8 characters' }),
})
const defaults = { size: 5, name: 'x', token: 'long-enough' }

test('options: defaults fill what is undefined, given values win', () => {
  assert.deepEqual(withDefaults(defaults, { size: undefined, name: 'y' }), { ...defaults, name: 'y' })
  assert.deepEqual(resolveOptions('thing', schema, defaults, { size: 7 }), { ...defaults, size: 7 })
})

test('options: every bad field is named with its value and the form expected; a secret is hidden', () => {
  assert.throws(
    () => resolveOptions('thing', schema, defaults, { size: 11, name: '', token: 'short-1' }),
    (error: unknown) => {
      const message = (error as Error).message
      assert.ok(hasErrorCode(error, 'CONFIG_INVALID'))
      assert.match(message, /thing\.size=11: must be a whole number from 1 to 10/)
      assert.match(message, /thing\.name="": must be a non-empty name/)
      assert.match(message, /thing\.token=\(hidden\): must be at least 8 characters/)
      assert.ok(!message.includes('short-1'))
      return true
    },
  )
})

test('options: rules run once the fields are valid, and name the fields', () => {
  const rules = [
    { holds: (o: typeof defaults) => o.size > o.name.length, problem: () => 'size must exceed name length' },
  ]
  assert.throws(
    () => resolveOptions('thing', schema, defaults, { size: 2, name: 'abc' }, rules),
    /thing: size must exceed name length/,
  )
  assert.equal(resolveOptions('thing', schema, defaults, { size: 4, name: 'abc' }, rules).size, 4)
})

test('options: a rule that names its fields runs beside other problems once those fields are valid', () => {
  const rules: OptionRule<typeof defaults>[] = [
    {
      fields: ['size', 'name'],
      holds: (o) => o.size > o.name.length,
      problem: () => 'size must exceed name length',
    },
    // Names no fields: waits for every field to be valid.
    { holds: () => false, problem: () => 'the unnamed rule' },
  ]
  assert.throws(
    () => resolveOptions('thing', schema, defaults, { size: 2, name: 'abc', token: 'short' }, rules),
    (error: unknown) => {
      const message = (error as Error).message
      assert.ok(hasErrorCode(error, 'CONFIG_INVALID'))
      assert.match(
        message,
        /thing\.token=\(hidden\): must be at least 8 characters; thing: size must exceed name length$/,
      )
      assert.doesNotMatch(message, /the unnamed rule/)
      return true
    },
  )
  // One of its fields is bad: the rule is not run on it.
  assert.throws(
    () => resolveOptions('thing', schema, defaults, { size: 0, name: 'abc' }, rules),
    (error: unknown) => {
      assert.doesNotMatch((error as Error).message, /size must exceed|the unnamed rule/)
      return true
    },
  )
  assert.throws(() => resolveOptions('thing', schema, defaults, {}, rules), /thing: the unnamed rule$/)
})

test('a component refuses bad options at construction: the acquirer client', () => {
  assert.throws(
    () => new AcquirerClient({ url: 'ftp://acquirer', connections: 0 }),
    (error: unknown) =>
      hasErrorCode(error, 'CONFIG_INVALID') &&
      /acquirerClient\.url="ftp:\/\/acquirer": must be an http\(s\) URL/.test((error as Error).message) &&
      /acquirerClient\.connections=0/.test((error as Error).message),
  )
})

test('deadline: the value when in time, the fallback or the thrown error when late, late failures reported', async () => {
  assert.equal(await withDeadline(Promise.resolve(1), 1000, () => 0), 1)
  const never = new Promise<number>(() => {})
  assert.equal(await withDeadline(never, 5, () => -1), -1)
  await assert.rejects(
    withDeadline(never, 5, () => {
      throw new Error('too late')
    }),
    /too late/,
  )
  await assert.rejects(
    withDeadline(Promise.reject(new Error('own')), 1000, () => 0),
    /own/,
  )
  let reportLate: (error: unknown) => void = () => {}
  const late = new Promise<unknown>((resolve) => {
    reportLate = resolve
  })
  let fail: (error: Error) => void = () => {}
  const failing = new Promise<number>((_, reject) => {
    fail = reject
  })
  assert.equal(await withDeadline(failing, 5, () => 0, reportLate), 0)
  fail(new Error('after the deadline'))
  assert.match(String(await late), /after the deadline/)
})

test('backoff: doubles per attempt up to the cap, scaled into [0.5, 1) by the random number', () => {
  assert.equal(
    backoff(1, 100, 10_000, () => 0),
    50,
  )
  assert.equal(
    backoff(3, 100, 10_000, () => 0),
    200,
  )
  assert.equal(
    backoff(3, 100, 10_000, () => 0.999_999),
    400,
  )
  assert.equal(
    backoff(40, 100, 10_000, () => 0),
    5000,
  )
})

test('breaker: cockatiel states map to payrail names and gauge values', () => {
  assert.equal(breakerStateOf(CircuitState.Closed), 'closed')
  assert.equal(breakerStateOf(CircuitState.HalfOpen), 'half-open')
  assert.equal(breakerStateOf(CircuitState.Open), 'open')
  assert.equal(breakerStateOf(CircuitState.Isolated), 'open')
  assert.deepEqual(BREAKER_GAUGE_VALUE, { closed: 0, 'half-open': 1, open: 2 })
})
