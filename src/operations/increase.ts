/**
 * Counter increases between two scrapes of the same roles, as Prometheus's increase() without
 * extrapolation: a series that went down was reset (its process restarted), so its whole current
 * value is the increase; a series new in the second scrape counts from zero.
 */
import type { Sample } from '../observability/exposition.ts'
import type { RoleSnapshot } from './role-sampler.ts'

function seriesKey(sample: Sample): string {
  const labels = Object.keys(sample.labels)
    .sort()
    .map((label) => `${label}=${sample.labels[label]}`)
  return `${sample.name}{${labels.join(',')}}`
}

/**
 * The samples named `names` of the `role` roles, their values replaced by the increase since
 * `previous` (the same targets scraped earlier). A role that did not answer either time adds nothing.
 */
export function increases(
  current: readonly RoleSnapshot[],
  previous: readonly RoleSnapshot[],
  role: string,
  names: readonly string[],
): Sample[] {
  const result: Sample[] = []
  current.forEach((snapshot, index) => {
    if (snapshot.role !== role || snapshot.samples === undefined) return
    const before = new Map<string, number>()
    for (const sample of previous[index]?.samples ?? [])
      if (names.includes(sample.name)) before.set(seriesKey(sample), sample.value)
    for (const sample of snapshot.samples) {
      if (!names.includes(sample.name)) continue
      const earlier = before.get(seriesKey(sample)) ?? 0
      const value = sample.value >= earlier ? sample.value - earlier : sample.value
      result.push({ ...sample, value })
    }
  })
  return result
}

/** Every sample of the `role` roles that answered. */
export function samplesOfRole(snapshots: readonly RoleSnapshot[], role: string): Sample[] {
  return snapshots.filter((s) => s.role === role).flatMap((s) => s.samples ?? [])
}
