/**
 * The faults of each chaos scenario, as a schedule over the load's run: which role, server or
 * link fails, when (seeded, at random moments within its slot), and for how long. Every fault
 * heals before the load ends, so that the invariants can then ask for a final state.
 */
import type { AcquirerMode } from '../acquirer/protocol.ts'
import type { DialectName } from '../db/database.ts'
import { TOPICS } from '../kafka/topics.ts'
import type { Fault, FaultProxy } from './fault-proxy.ts'
import type { ChaosPlatform } from './platform.ts'
import { ROLES, type Role } from './platform.ts'
import type { ChaosState } from './state.ts'

export interface FaultContext {
  platform: ChaosPlatform
  state: ChaosState
  /** TCP fault proxies on the links gateway → api and api/worker → acquirer. */
  links: Record<'api' | 'acquirer', FaultProxy>
  random: () => number
  durationMs: number
  /** How long a killed role stays down. */
  downMs: number
  /** Resolves `ms` after the load began (at once if that has passed). */
  at(ms: number): Promise<void>
  sleep(ms: number): Promise<void>
  /** Records one fault step in the timeline and prints it. */
  mark(what: string): void
  acquirerMode(mode: AcquirerMode, slowExtraMs?: number): Promise<void>
}

export interface ChaosScenario {
  name: string
  about: string
  /** What the scenario runs on. Default: SQLite, one broker, no Redis. */
  dialect?: DialectName
  kafkaNodes?: 1 | 3
  redis?: boolean
  /** The faults take the cluster away: the relay's breaker must open and no record lose an attempt. */
  expectBreakerOpen?: boolean
  faults(ctx: FaultContext): Promise<void>
}

/** A random moment in [from, to) of the run, in ms. */
const within = (ctx: FaultContext, from: number, to: number) =>
  Math.round(ctx.durationMs * (from + ctx.random() * (to - from)))

async function killRole(ctx: FaultContext, role: Role, downMs = ctx.downMs): Promise<void> {
  ctx.mark(`kill -9 ${role}`)
  await ctx.platform.kill(role)
  await ctx.sleep(downMs)
  await ctx.platform.start(role)
  ctx.mark(`${role} restarted`)
}

async function brokerDown(ctx: FaultContext, nodeId: number, downMs: number): Promise<void> {
  ctx.mark(`kill -9 kafka node ${nodeId} for ${downMs / 1000} s`)
  await ctx.state.kafka.kill(nodeId)
  await ctx.sleep(downMs)
  await ctx.state.kafka.start(nodeId)
  ctx.mark(`kafka node ${nodeId} back`)
}

async function serverDown(ctx: FaultContext, name: 'database' | 'redis', downMs: number): Promise<void> {
  const server = ctx.state[name]
  if (server === undefined) throw new Error(`the scenario has no ${name} server to fault`)
  ctx.mark(`kill -9 ${name} for ${downMs / 1000} s`)
  await server.kill()
  await ctx.sleep(downMs)
  await server.start()
  ctx.mark(`${name} back`)
}

async function linkFault(
  ctx: FaultContext,
  link: 'api' | 'acquirer',
  fault: Fault,
  ms: number,
): Promise<void> {
  const what = fault.kind === 'latency' ? `latency ${fault.ms} ms ± ${fault.jitterMs ?? 0}` : fault.kind
  ctx.mark(`link to ${link}: ${what} for ${ms / 1000} s`)
  await ctx.links[link].setFault(fault)
  await ctx.sleep(ms)
  await ctx.links[link].setFault({ kind: 'none' })
  ctx.mark(`link to ${link}: healed`)
}

/** The node leading the most partitions of payment.authorized, the busiest topic. */
async function busiestLeader(ctx: FaultContext): Promise<number> {
  const leaders = await ctx.state.kafka.leadersOf(TOPICS.authorized.name)
  const count = new Map<number, number>()
  for (const leader of leaders) count.set(leader, (count.get(leader) ?? 0) + 1)
  const [best] = [...count].sort((a, b) => b[1] - a[1])
  if (best === undefined) throw new Error(`no leader found for ${TOPICS.authorized.name}`)
  return best[0]
}

/** The private database server killed (-9) for 15 s, twice. */
function databaseRestart(dialect: 'mysql' | 'postgres', product: string): ChaosScenario {
  return {
    name: `database-restart-${dialect}`,
    about: `the ${product} server killed (-9) for 15 s, twice`,
    dialect,
    async faults(ctx) {
      await ctx.at(within(ctx, 0.1, 0.2))
      await serverDown(ctx, 'database', 15_000)
      await ctx.at(within(ctx, 0.5, 0.6))
      await serverDown(ctx, 'database', 15_000)
    },
  }
}

/** Each role once, spread over the first 70 % of the run; then the broker down for `brokerMs`. */
async function eachRoleOnceThenBroker(ctx: FaultContext, brokerMs: number): Promise<void> {
  const slot = 0.6 / ROLES.length
  for (const [i, role] of ROLES.entries()) {
    await ctx.at(within(ctx, 0.1 + slot * i, 0.1 + slot * (i + 0.5)))
    await killRole(ctx, role)
  }
  await ctx.at(within(ctx, 0.7, 0.75))
  await brokerDown(ctx, 1, brokerMs)
}

export const SMOKE: ChaosScenario = {
  name: 'smoke',
  about: 'kill -9 of each role once, then the broker down for 10 s',
  expectBreakerOpen: true,
  faults: (ctx) => eachRoleOnceThenBroker(ctx, 10_000),
}

/** The scenarios of `payrail chaos --full`, in the order they run. */
export const FULL: readonly ChaosScenario[] = [
  {
    name: 'role-kills',
    about: 'kill -9 of each role three times, at random moments, in random order',
    async faults(ctx) {
      const kills = ROLES.flatMap((role) => [role, role, role])
      for (let i = kills.length - 1; i > 0; i--) {
        const j = Math.floor(ctx.random() * (i + 1))
        ;[kills[i], kills[j]] = [kills[j] as Role, kills[i] as Role]
      }
      const slot = 0.8 / kills.length
      for (const [i, role] of kills.entries()) {
        await ctx.at(within(ctx, 0.05 + slot * i, 0.05 + slot * (i + 0.5)))
        await killRole(ctx, role)
      }
    },
  },
  {
    name: 'broker-stop',
    about: 'the Kafka broker killed for 60 s under load',
    expectBreakerOpen: true,
    async faults(ctx) {
      await ctx.at(within(ctx, 0.1, 0.15))
      await brokerDown(ctx, 1, 60_000)
    },
  },
  {
    name: 'acquirer-slow',
    about: "the acquirer slow (5 s beyond its latency, past the api's and workers' timeouts) for 20 s",
    async faults(ctx) {
      await ctx.at(within(ctx, 0.1, 0.2))
      ctx.mark('acquirer slow (+5000 ms)')
      await ctx.acquirerMode('slow', 5000)
      await ctx.sleep(20_000)
      await ctx.acquirerMode('normal')
      ctx.mark('acquirer normal')
    },
  },
  {
    name: 'acquirer-failing',
    about: 'the acquirer answering every call with a processor error for 20 s',
    async faults(ctx) {
      await ctx.at(within(ctx, 0.1, 0.2))
      ctx.mark('acquirer failing')
      await ctx.acquirerMode('failing')
      await ctx.sleep(20_000)
      await ctx.acquirerMode('normal')
      ctx.mark('acquirer normal')
    },
  },
  databaseRestart('mysql', 'MariaDB'),
  databaseRestart('postgres', 'PostgreSQL'),
  {
    name: 'redis-down',
    about: "Redis (the gateway's rate limiter) killed for 30 s",
    redis: true,
    async faults(ctx) {
      await ctx.at(within(ctx, 0.1, 0.2))
      await serverDown(ctx, 'redis', 30_000)
    },
  },
  {
    name: 'network',
    about: 'the links gateway → api and api/worker → acquirer slowed, blackholed and reset in turn',
    async faults(ctx) {
      await ctx.at(within(ctx, 0.05, 0.1))
      await linkFault(ctx, 'api', { kind: 'latency', ms: 200, jitterMs: 100 }, 10_000)
      await ctx.at(within(ctx, 0.2, 0.25))
      await linkFault(ctx, 'api', { kind: 'blackhole' }, 8000)
      await ctx.at(within(ctx, 0.35, 0.4))
      await linkFault(ctx, 'api', { kind: 'reset' }, 3000)
      await ctx.at(within(ctx, 0.45, 0.5))
      await linkFault(ctx, 'acquirer', { kind: 'latency', ms: 300, jitterMs: 200 }, 10_000)
      await ctx.at(within(ctx, 0.6, 0.65))
      await linkFault(ctx, 'acquirer', { kind: 'blackhole' }, 8000)
      await ctx.at(within(ctx, 0.75, 0.8))
      await linkFault(ctx, 'acquirer', { kind: 'reset' }, 3000)
    },
  },
  {
    name: 'cluster-leader-kill',
    about: 'three Kafka nodes: the leader of most payment.authorized partitions killed for 20 s, twice',
    kafkaNodes: 3,
    async faults(ctx) {
      for (const [from, to] of [
        [0.15, 0.2],
        [0.55, 0.6],
      ] as const) {
        await ctx.at(within(ctx, from, to))
        await brokerDown(ctx, await busiestLeader(ctx), 20_000)
      }
    },
  },
  {
    name: 'cluster-two-down',
    about: 'three Kafka nodes: one killed, then a second (acks=all cannot be met) for 30 s, then both back',
    kafkaNodes: 3,
    expectBreakerOpen: true,
    async faults(ctx) {
      await ctx.at(within(ctx, 0.1, 0.15))
      const [first, second] = ctx.state.kafka.nodeIds.slice(1) as [number, number]
      ctx.mark(`kill -9 kafka node ${first}`)
      await ctx.state.kafka.kill(first)
      await ctx.sleep(5000)
      ctx.mark(`kill -9 kafka node ${second} for 30 s`)
      await ctx.state.kafka.kill(second)
      await ctx.sleep(30_000)
      await ctx.state.kafka.start(second)
      ctx.mark(`kafka node ${second} back`)
      await ctx.state.kafka.start(first)
      ctx.mark(`kafka node ${first} back`)
    },
  },
]

export const SCENARIOS: readonly ChaosScenario[] = [SMOKE, ...FULL]

export function scenarioNamed(name: string): ChaosScenario | undefined {
  return SCENARIOS.find((scenario) => scenario.name === name)
}

/**
 * The seed a scenario runs with: the run's seed mixed with the scenario's name (FNV-1a), so that
 * `--scenario <name> --seed <run seed>` replays that scenario of a full run on its own.
 */
export function scenarioSeed(seed: number, name: string): number {
  let hash = 0x811c9dc5
  for (const char of name) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193)
  return ((seed ^ hash) >>> 0) % 2 ** 31
}
