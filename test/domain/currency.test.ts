import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isKnownCurrency } from '../../src/domain/currency.ts'

test('ISO 4217 codes are known; others and other spellings are not', () => {
  for (const code of ['KRW', 'USD', 'EUR', 'JPY', 'KWD', 'GBP']) assert.ok(isKnownCurrency(code), code)
  for (const code of ['XYZ', 'usd', 'US', 'USDD', '', 'KR W']) assert.ok(!isKnownCurrency(code), code)
})
