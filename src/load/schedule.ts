/**
 * The open model's clock: when the n-th request is due, and a loop that starts each one at its
 * time whatever the earlier ones are doing. Latency is then measured from the due time (not the
 * send), so a stall anywhere, this process included, shows in the figures instead of quietly
 * lowering the offered rate (coordinated omission).
 *
 * A request that finds `maxInFlight` requests still open at its due time is not sent and is
 * counted as dropped (k6's `dropped_iterations`): it is what a real client would see as its own
 * failure to send, and keeps a stalled server from growing this process's memory without bound.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { PayrailError } from '../domain/errors.ts'

/** One leg of an arrival profile: the rate goes linearly from `from` to `to` per second over `durationMs`. */
export interface Stage {
  from: number
  to: number
  durationMs: number
}

/** Due times (ms from the start) of an arrival profile made of stages. */
export class ArrivalSchedule {
  readonly stages: readonly Stage[]
  readonly durationMs: number
  readonly total: number
  private readonly starts: number[] = []
  private readonly counts: number[] = []

  constructor(stages: readonly Stage[]) {
    if (stages.length === 0) throw new PayrailError('USAGE', 'an arrival profile needs at least one stage')
    for (const stage of stages)
      if (!(stage.from >= 0 && stage.to >= 0 && stage.durationMs > 0))
        throw new PayrailError('USAGE', 'every stage needs rates ≥ 0 and a positive duration')
    this.stages = stages
    let start = 0
    let count = 0
    for (const stage of stages) {
      this.starts.push(start)
      this.counts.push(count)
      start += stage.durationMs
      count += ((stage.from + stage.to) / 2) * (stage.durationMs / 1000)
    }
    this.durationMs = start
    this.total = Math.floor(count + 1e-9)
  }

  /** The offered rate (per second) at `ms` from the start. */
  rateAt(ms: number): number {
    for (let i = this.stages.length - 1; i >= 0; i--) {
      const stage = this.stages[i] as Stage
      const begin = this.starts[i] as number
      if (ms >= begin) {
        const t = Math.min(1, (ms - begin) / stage.durationMs)
        return stage.from + (stage.to - stage.from) * t
      }
    }
    return 0
  }

  /** When (ms from the start) the n-th request (from 0) is due: where the arrivals so far reach n + 1. */
  dueAt(n: number): number {
    const target = n + 1
    for (let i = this.stages.length - 1; i >= 0; i--) {
      const before = this.counts[i] as number
      if (target <= before + 1e-9) continue
      const stage = this.stages[i] as Stage
      const seconds = stage.durationMs / 1000
      const slope = (stage.to - stage.from) / seconds
      const need = target - before
      // Arrivals within the stage by t seconds: from·t + slope·t²/2; solve for t.
      const t =
        Math.abs(slope) < 1e-12
          ? need / stage.from
          : (-stage.from + Math.sqrt(Math.max(0, stage.from * stage.from + 2 * slope * need))) / slope
      return (this.starts[i] as number) + Math.min(seconds, t) * 1000
    }
    return 0
  }
}

/** Time and waiting, injectable so a test can make the generator fall behind on purpose. */
export interface LoadClock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const realClock: LoadClock = {
  now: () => performance.now(),
  sleep: (ms) => sleep(ms),
}

export interface SchedulerOptions {
  schedule: ArrivalSchedule
  /** Starts the n-th iteration, due at `due` (clock ms); its promise settles when it is done. */
  start: (n: number, due: number) => Promise<void>
  /** Iterations open at once at most; a due one that finds this many open is dropped. */
  maxInFlight: number
  /** A start later than this after its due time counts as late (it still goes, timed from its due time). */
  lateAfterMs?: number
  clock?: LoadClock
  /** Told of each dropped iteration, with its due time. */
  onDrop?: (due: number) => void
  /** Stops offering early (Ctrl-C). */
  signal?: AbortSignal
}

export interface SchedulerResult {
  /** Iterations due during the run. */
  due: number
  started: number
  /** Due but not started: `maxInFlight` were open (k6's dropped_iterations). */
  dropped: number
  /** Started more than `lateAfterMs` after their due time (this process could not keep up). */
  late: number
  /** The most any start trailed its due time, ms. */
  maxLagMs: number
  startedAt: number
  offeredForMs: number
}

/** Runs the open model: every iteration starts at its due time (or is dropped), whatever the answers do. */
export async function runSchedule(options: SchedulerOptions): Promise<SchedulerResult> {
  const clock = options.clock ?? realClock
  const lateAfter = options.lateAfterMs ?? 10
  const { schedule } = options
  const open = new Set<Promise<void>>()
  let failure: unknown
  const result: SchedulerResult = {
    due: 0,
    started: 0,
    dropped: 0,
    late: 0,
    maxLagMs: 0,
    startedAt: clock.now(),
    offeredForMs: 0,
  }
  const begin = result.startedAt
  let next = 0
  while (next < schedule.total && !options.signal?.aborted) {
    const now = clock.now()
    // Everything due by now goes out at once: a late tick never lowers the offered rate.
    while (next < schedule.total && begin + schedule.dueAt(next) <= now) {
      const due = begin + schedule.dueAt(next)
      result.due++
      if (open.size >= options.maxInFlight) {
        result.dropped++
        options.onDrop?.(due)
      } else {
        const lag = now - due
        if (lag > lateAfter) result.late++
        if (lag > result.maxLagMs) result.maxLagMs = lag
        result.started++
        // Request failures are counted inside an iteration; one that throws is a bug in the run
        // (a scenario without its data): remembered, the schedule goes on, and the run fails.
        const done = options.start(next, due).catch((error: unknown) => {
          failure ??= error
        })
        open.add(done)
        void done.finally(() => open.delete(done))
      }
      next++
    }
    if (next >= schedule.total) break
    const wait = begin + schedule.dueAt(next) - clock.now()
    // Timers fire no finer than ~1 ms; sleeping at least 1 ms keeps the loop off the CPU.
    await clock.sleep(Math.max(1, Math.min(wait, 50)))
  }
  result.offeredForMs = clock.now() - begin
  await Promise.all(open)
  if (failure !== undefined) throw failure
  return result
}
