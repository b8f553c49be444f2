import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isKnownCurrency, minorUnits } from '../../src/domain/currency.ts'

test('ISO 4217 codes are known; others and other spellings are not', () => {
  for (const code of ['KRW', 'USD', 'EUR', 'JPY', 'KWD', 'GBP']) assert.ok(isKnownCurrency(code), code)
  for (const code of ['XYZ', 'usd', 'US', 'USDD', '', 'KR W']) assert.ok(!isKnownCurrency(code), code)
})

test('minor units follow ISO 4217', () => {
  assert.equal(minorUnits('KRW'), 0)
  assert.equal(minorUnits('JPY'), 0)
  assert.equal(minorUnits('USD'), 2)
  assert.equal(minorUnits('KWD'), 3)
})
