/**
 * What one iteration of each scenario does, and which of its steps it times:
 * - `authorize`: one authorization (timed from its due time);
 * - `read`: one GET of a payment authorized before the run;
 * - `flow`: authorize → capture → wait for CAPTURED → refund → wait for REFUNDED, each step
 *   timed and the whole from the due time (`flow`);
 * - `mix`: one of those three, drawn by weight (default 70/25/5).
 * Merchants rotate per iteration; every authorization has a fresh idempotency key; amounts avoid
 * the simulator's decline endings (51 authorize, 52 settle, 53 refund) unless declines are asked for.
 */
import { performance } from 'node:perf_hooks'
import { DECLINING_CENTS } from '../acquirer/protocol.ts'
import type { LoadAnswer, LoadClient } from './client.ts'
import type { LoadStats } from './stats.ts'

export const SCENARIOS = ['authorize', 'flow', 'read', 'mix'] as const
export type ScenarioName = (typeof SCENARIOS)[number]

export interface ScenarioContext {
  client: LoadClient
  stats: LoadStats
  /** API keys (`prk_…`), one per merchant. */
  keys: readonly string[]
  /** A run tag that keeps idempotency keys fresh across runs. */
  tag: string
  /** Uniform in [0, 1). */
  random: () => number
  declines: boolean
  /** How often a flow polls its payment while waiting for the worker. Default 50 ms. */
  pollMs: number
  /** How long a flow waits for CAPTURED or REFUNDED before counting `wait-timeout`. */
  waitTimeoutMs: number
  /** Payments per merchant the `read` scenario reads (filled by `prepare`). */
  readable: string[][]
  mix: { authorize: number; read: number; flow: number }
  sleep: (ms: number) => Promise<void>
}

/** The step whose latency heads the report, per scenario. */
export const mainStepOf = (scenario: ScenarioName): string => scenario

export function amountFor(random: () => number, declines: boolean): number {
  for (;;) {
    const amount = 1000 + Math.floor(random() * 99_000)
    if (declines || !Object.values(DECLINING_CENTS).includes((amount % 100) as 51)) return amount
  }
}

const headersFor = (key: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${key}` })

const paymentIdOf = (answer: LoadAnswer): string | undefined => {
  const id = (answer.body as { paymentId?: unknown } | undefined)?.paymentId
  return typeof id === 'string' ? id : undefined
}

const statusOf = (answer: LoadAnswer): string | undefined => {
  const status = (answer.body as { status?: unknown } | undefined)?.status
  return typeof status === 'string' ? status : undefined
}

async function authorize(ctx: ScenarioContext, n: number | string, key: string): Promise<LoadAnswer> {
  return ctx.client.send({
    method: 'POST',
    path: '/api/payments/authorize',
    headers: headersFor(key),
    body: JSON.stringify({
      amount: amountFor(ctx.random, ctx.declines),
      currency: 'KRW',
      idempotencyKey: `load-${ctx.tag}-${n}`,
    }),
  })
}

/** Sends, counts the answer under the due second, times it as `step` from `from` if 2xx. */
async function step(
  ctx: ScenarioContext,
  name: string,
  due: number,
  from: number,
  send: () => Promise<LoadAnswer>,
): Promise<LoadAnswer | undefined> {
  const answer = await send()
  ctx.stats.answer(due, answer.key)
  if (answer.status < 200 || answer.status > 299) return undefined
  ctx.stats.latency(name, due, performance.now() - from)
  return answer
}

/** Polls the payment until `wanted` (timed as `name`), or gives up as `wait-timeout` / its wrong end state. */
async function waitFor(
  ctx: ScenarioContext,
  name: string,
  due: number,
  key: string,
  id: string,
  wanted: string,
  failed: string,
): Promise<boolean> {
  const from = performance.now()
  const deadline = from + ctx.waitTimeoutMs
  while (performance.now() < deadline) {
    await ctx.sleep(ctx.pollMs)
    const answer = await ctx.client.send({
      method: 'GET',
      path: `/api/payments/${id}`,
      headers: headersFor(key),
    })
    ctx.stats.polls++
    if (answer.status !== 200) continue
    const status = statusOf(answer)
    if (status === wanted) {
      ctx.stats.latency(name, due, performance.now() - from)
      return true
    }
    if (status === failed) {
      ctx.stats.answer(due, failed)
      return false
    }
  }
  ctx.stats.answer(due, 'wait-timeout')
  return false
}

async function flow(ctx: ScenarioContext, n: number, due: number, key: string): Promise<boolean> {
  const auth = await step(ctx, 'authorize', due, due, () => authorize(ctx, n, key))
  const id = auth === undefined ? undefined : paymentIdOf(auth)
  if (id === undefined || statusOf(auth as LoadAnswer) !== 'AUTHORIZED') return false
  const path = (op: string) => `/api/payments/${op}/${id}`
  const captured = await step(ctx, 'capture', due, performance.now(), () =>
    ctx.client.send({ method: 'POST', path: path('capture'), headers: headersFor(key), body: '{}' }),
  )
  if (captured === undefined) return false
  if (!(await waitFor(ctx, 'captured', due, key, id, 'CAPTURED', 'CAPTURE_FAILED'))) return false
  const refunded = await step(ctx, 'refund', due, performance.now(), () =>
    ctx.client.send({
      method: 'POST',
      path: path('refund'),
      headers: headersFor(key),
      body: JSON.stringify({ reason: 'load test' }),
    }),
  )
  if (refunded === undefined) return false
  return waitFor(ctx, 'refunded', due, key, id, 'REFUNDED', 'REFUND_FAILED')
}

async function read(ctx: ScenarioContext, n: number, due: number): Promise<boolean> {
  const merchant = n % ctx.keys.length
  const ids = ctx.readable[merchant] ?? []
  const id = ids[Math.floor(ctx.random() * ids.length)]
  if (id === undefined) throw new Error('read: no payments to read (prepare did not run)')
  const key = ctx.keys[merchant] as string
  const answer = await step(ctx, 'get', due, due, () =>
    ctx.client.send({ method: 'GET', path: `/api/payments/${id}`, headers: headersFor(key) }),
  )
  return answer !== undefined
}

/** One iteration of `scenario`: its steps, then its whole latency under the scenario's name if it succeeded. */
export async function iterate(
  scenario: ScenarioName,
  ctx: ScenarioContext,
  n: number,
  due: number,
): Promise<void> {
  const key = ctx.keys[n % ctx.keys.length] as string
  let kind: Exclude<ScenarioName, 'mix'> = scenario === 'mix' ? 'authorize' : scenario
  if (scenario === 'mix') {
    const total = ctx.mix.authorize + ctx.mix.read + ctx.mix.flow
    const draw = ctx.random() * total
    kind = draw < ctx.mix.authorize ? 'authorize' : draw < ctx.mix.authorize + ctx.mix.read ? 'read' : 'flow'
  }
  let ok: boolean
  if (kind === 'authorize')
    ok = (await step(ctx, 'authorize', due, due, () => authorize(ctx, n, key))) !== undefined
  else if (kind === 'read') ok = await read(ctx, n, due)
  else ok = await flow(ctx, n, due, key)
  if (ok && scenario !== 'authorize') ctx.stats.latency(scenario, due, performance.now() - due)
  // `authorize` is its own single step: its latency was recorded under its name already.
}

/** Authorizes `perMerchant` payments for each key so `read` and `mix` have something to read. */
export async function prepare(ctx: ScenarioContext, perMerchant: number): Promise<void> {
  ctx.readable.length = 0
  await Promise.all(
    ctx.keys.map(async (key, merchant) => {
      const ids: string[] = []
      for (let i = 0; i < perMerchant; i++) {
        const answer = await authorize(ctx, `prep-${merchant}-${i}`, key)
        const id = paymentIdOf(answer)
        if (id === undefined) throw new Error(`read: could not authorize a payment to read (${answer.key})`)
        ids.push(id)
      }
      ctx.readable[merchant] = ids
    }),
  )
}
