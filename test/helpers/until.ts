/** The tests wait with payrail's own helper. */
export { type UntilOptions, until } from '../../src/runtime/until.ts'
