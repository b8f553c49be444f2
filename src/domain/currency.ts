/**
 * ISO 4217 currencies and their minor units, from the ICU data built into Node (the same data
 * browsers use), rather than a hand-kept table.
 */
const known = new Set(Intl.supportedValuesOf('currency'))
const minorUnitsCache = new Map<string, number>()

export function isKnownCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && known.has(code)
}

/** Digits after the decimal point: 0 for KRW and JPY, 2 for USD, 3 for KWD. */
export function minorUnits(code: string): number {
  let digits = minorUnitsCache.get(code)
  if (digits === undefined) {
    digits =
      new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions()
        .maximumFractionDigits ?? 2
    minorUnitsCache.set(code, digits)
  }
  return digits
}
