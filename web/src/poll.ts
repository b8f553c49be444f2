import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { useServices } from './context.ts'

export interface Polled<T> {
  data: T | undefined
  error: Error | undefined
  /** When the last answer came, epoch ms. */
  at: number | undefined
  refresh: () => void
}

/**
 * Calls `load` now and every `intervalMs` while the page is shown (short polling: the live views
 * of the dashboard), again at once when the session's secrets change. A call never overlaps the
 * previous one, so a slow API is not piled onto.
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[] = []): Polled<T> {
  const { secrets } = useServices()
  const [state, setState] = useState<{ data?: T; error?: Error; at?: number }>({})
  const loadRef = useRef(load)
  loadRef.current = load
  const [tick, setTick] = useState(0)
  const refresh = useCallback(() => setTick((n) => n + 1), [])

  useEffect(() => secrets.subscribe(refresh), [secrets, refresh])

  // Dependencies: deps are the caller's, tick forces a reload
  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const run = async () => {
      try {
        const data = await loadRef.current()
        if (!stopped) setState({ data, at: Date.now() })
      } catch (error) {
        if (!stopped) setState((previous) => ({ ...previous, error: error as Error, at: Date.now() }))
      }
      if (!stopped && intervalMs > 0) timer = setTimeout(run, intervalMs)
    }
    void run()
    return () => {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
    }
  }, [tick, intervalMs, ...deps])

  return { data: state.data, error: state.error, at: state.at, refresh }
}

/** A rolling window of samples of a few numbers, for a live chart: the last `size` points. */
export function useHistory(
  sample: Record<string, number | null> | undefined,
  at: number | undefined,
  size = 120,
) {
  const [history, setHistory] = useState<{ t: number[]; series: Record<string, (number | null)[]> }>({
    t: [],
    series: {},
  })
  // Dependencies: one point per answer
  useEffect(() => {
    if (sample === undefined || at === undefined) return
    setHistory((previous) => {
      const t = [...previous.t, at / 1000].slice(-size)
      const series: Record<string, (number | null)[]> = {}
      for (const [name, value] of Object.entries(sample)) {
        const before = previous.series[name] ?? new Array<number | null>(previous.t.length).fill(null)
        series[name] = [...before, value].slice(-size)
      }
      return { t, series }
    })
  }, [at])
  return history
}
