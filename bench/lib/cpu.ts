import { readdirSync, readFileSync } from 'node:fs'

/** The processes a benchmark's CPU time is split over; each is found by its command line. */
const SERVERS: Record<string, (comm: string, cmdline: string) => boolean> = {
  mariadb: (comm) => comm === 'mariadbd' || comm === 'mysqld',
  postgres: (comm) => comm === 'postgres',
  kafka: (comm, cmdline) => comm === 'java' && cmdline.includes('kafka.Kafka'),
  redis: (comm) => comm === 'redis-server',
}

/**
 * utime + stime of one /proc/<pid>/stat line, in seconds, and with `children` the time of its
 * children that ended (cutime + cstime): PostgreSQL's backends end when a pool lets an idle
 * connection go, and their time then moves to the postmaster; without it a run's PostgreSQL
 * CPU came out near 0 at times.
 */
function statSeconds(stat: string, children = false): number {
  const ticksPerSecond = 100 // USER_HZ, 100 on every Linux architecture that Node runs on
  // The command name is in parentheses and may hold spaces; the fields after it are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const own = Number(fields[11]) + Number(fields[12])
  return (children ? own + Number(fields[13]) + Number(fields[14]) : own) / ticksPerSecond
}

/** CPU seconds one process has used so far (Linux); NaN once it is gone. */
export function processSeconds(pid: number): number {
  try {
    return statSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return Number.NaN
  }
}

/**
 * CPU seconds used so far by process `pid` and every process below it, living or ended (Linux):
 * a private server's own time, whoever else shares the machine. NaN once `pid` is gone.
 */
export function treeSeconds(pid: number): number {
  const parents = new Map<number, number[]>()
  const stats = new Map<number, string>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      stats.set(Number(entry), stat)
      parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)])
    } catch {
      // the process ended while we looked; its time moved to its parent's ended children
    }
  }
  if (!stats.has(pid)) return Number.NaN
  let total = 0
  const queue = [pid]
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const stat = stats.get(next)
    if (stat !== undefined) total += statSeconds(stat, true)
    queue.push(...(parents.get(next) ?? []))
  }
  return total
}

/** CPU seconds used so far by each server's processes, from /proc (Linux); 0 where unreadable. */
export function serverSeconds(): Record<string, number> {
  const totals: Record<string, number> = Object.fromEntries(Object.keys(SERVERS).map((name) => [name, 0]))
  let pids: string[] = []
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))
  } catch {
    return totals
  }
  for (const pid of pids) {
    let stat: string
    let cmdline: string
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    } catch {
      continue // the process ended while we looked
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const seconds = statSeconds(stat, true)
    for (const [name, matches] of Object.entries(SERVERS)) {
      if (matches(comm, cmdline)) totals[name] = (totals[name] ?? 0) + seconds
    }
  }
  return totals
}

/**
 * Starts measuring; `perEvent(n)` then gives the CPU microseconds per event that this process
 * and each local server spent since the start, which shows what a run is bound by.
 */
export function cpuMeter(): { perEvent(events: number): Record<string, number> } {
  const ownStart = process.cpuUsage()
  const serversStart = serverSeconds()
  return {
    perEvent(events) {
      const own = process.cpuUsage(ownStart)
      const servers = serverSeconds()
      const result: Record<string, number> = { relay: (own.user + own.system) / events }
      for (const [name, seconds] of Object.entries(servers)) {
        const spent = seconds - (serversStart[name] ?? 0)
        if (spent > 0) result[name] = (spent * 1e6) / events
      }
      return result
    },
  }
}

/** `relay 5.1 µs, mariadb 6.0 µs, kafka 2.2 µs` */
export function formatPerEvent(perEvent: Record<string, number>): string {
  return Object.entries(perEvent)
    .map(([name, micros]) => `${name} ${micros.toFixed(1)} µs`)
    .join(', ')
}
