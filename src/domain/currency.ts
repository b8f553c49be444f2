/**
 * ISO 4217 currencies, from the ICU data built into Node (the same data browsers use), rather
 * than a hand-kept table; built once at load and never changed after. Amounts are whole minor
 * units (DESIGN.md), so payrail never needs a currency's decimal digits.
 */
const known: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'))

export function isKnownCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && known.has(code)
}
