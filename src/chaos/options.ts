/**
 * `payrail chaos`'s options, validated once: the smoke's defaults are short enough for the test
 * suite; `--full` runs every scenario longer, long enough for a 60 s broker stop to sit inside
 * its load.
 */
import { Type } from 'typebox'
import { type OptionRule, resolveOptions, wholeNumber } from '../runtime/options.ts'

export interface ChaosOptions {
  /** Every scenario of the catalog instead of the smoke. Default: false. */
  full: boolean
  /** Only these scenarios (names from `--list`). Default: all of the run. */
  scenarios: string[]
  /** Flows started per second. Default: 5 (smoke), 10 (full). */
  rate: number
  /** How long each scenario's load runs. Default: 20 s (smoke), 90 s (full). */
  durationMs: number
  /** Merchants created per scenario. Default: 2. */
  merchants: number
  /** How long a killed role stays down. Default: 1000 ms. */
  downMs: number
  /** Bound on each recovery wait after the load (payments final, outbox, lag, ledger). Default: 60 s (smoke), 120 s (full). */
  healTimeoutMs: number
  /** Random seed of the fault schedule and the load. Default: random, printed. */
  seed: number
}

export function chaosDefaults(full: boolean): ChaosOptions {
  return {
    full,
    scenarios: [],
    rate: full ? 10 : 5,
    durationMs: full ? 90_000 : 20_000,
    merchants: 2,
    downMs: 1000,
    healTimeoutMs: full ? 120_000 : 60_000,
    seed: 0,
  }
}

const schema = Type.Object({
  full: Type.Boolean(),
  scenarios: Type.Array(Type.String()),
  rate: wholeNumber(1, 1000),
  durationMs: wholeNumber(5000, 3_600_000),
  merchants: wholeNumber(1, 1000),
  downMs: wholeNumber(0, 600_000),
  healTimeoutMs: wholeNumber(1000, 3_600_000),
  seed: wholeNumber(0, 2 ** 31),
})

const rules: OptionRule<ChaosOptions>[] = [
  {
    fields: ['full', 'durationMs'],
    // The broker-stop scenario keeps the broker down 60 s from about 10 % into the run.
    holds: (o) => !o.full || o.durationMs >= 80_000,
    problem: (o) =>
      `--full needs --duration of at least 80s (got ${o.durationMs / 1000}s): the broker stays down 60 s`,
  },
]

export function resolveChaosOptions(options: Partial<ChaosOptions>): ChaosOptions {
  return resolveOptions('chaos', schema, chaosDefaults(options.full ?? false), options, rules)
}
