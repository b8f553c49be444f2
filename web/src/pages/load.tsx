import { useState } from 'preact/hooks'
import { ErrorBox, formatTime, Json, LineChart, Section, Stat, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { useHistory, usePoll } from '../poll.ts'
import type { LoadRun } from '../types.ts'

const SCENARIOS = ['authorize', 'read', 'flow', 'mix']

export function LoadPage() {
  const { api } = useServices()
  const runs = usePoll(() => api.get<{ items: LoadRun[] }>('admin', '/api/admin/load-runs'), 2000)
  const [selected, setSelected] = useState<string | undefined>(undefined)
  const [scenario, setScenario] = useState('authorize')
  const [rate, setRate] = useState('50')
  const [duration, setDuration] = useState('30')
  const [error, setError] = useState<Error | undefined>(undefined)
  const running = runs.data?.items.find((run) => run.status === 'running')
  const shownId = selected ?? running?.id
  const shown = usePoll<LoadRun | undefined>(
    () =>
      shownId === undefined
        ? Promise.resolve(undefined)
        : api.get<LoadRun>('admin', `/api/admin/load-runs/${encodeURIComponent(shownId)}`),
    1000,
    [shownId],
  )
  const progress = shown.data?.progress ?? undefined
  const history = useHistory(
    progress ? { 'achieved/s': progress.achievedRate, 'p99 ms': progress.p99Ms } : undefined,
    shown.at,
  )

  const start = async () => {
    setError(undefined)
    try {
      const answer = await api.call<LoadRun>('admin', 'POST', '/api/admin/load-runs', {
        scenario,
        rate: Number(rate),
        duration: Number(duration),
      })
      setSelected(answer.body.id)
      runs.refresh()
    } catch (caught) {
      setError(caught as Error)
    }
  }
  // The report needs the admin token, so it cannot be a plain link: fetched, then saved as a file
  // (opened in a tab it would fall under this page's CSP, which forbids its inline styles).
  const download = async (id: string) => {
    try {
      const html = await api.get<string>(
        'admin',
        `/api/admin/load-runs/${encodeURIComponent(id)}/report.html`,
      )
      const link = document.createElement('a')
      link.href = URL.createObjectURL(new Blob([html], { type: 'text/html' }))
      link.download = `payrail-load-${id}.html`
      link.click()
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000)
    } catch (caught) {
      setError(caught as Error)
    }
  }
  const stop = async (id: string) => {
    try {
      await api.call('admin', 'POST', `/api/admin/load-runs/${encodeURIComponent(id)}/stop`, {})
      runs.refresh()
    } catch (caught) {
      setError(caught as Error)
    }
  }

  return (
    <>
      <ErrorBox error={runs.error ?? error} />
      <Section title="Start a load test">
        <form
          class="form-row"
          onSubmit={(event) => {
            event.preventDefault()
            void start()
          }}
        >
          <label>
            Scenario
            <select value={scenario} onChange={(event) => setScenario(event.currentTarget.value)}>
              {SCENARIOS.map((name) => (
                <option key={name}>{name}</option>
              ))}
            </select>
          </label>
          <label>
            Rate (per second)
            <input inputMode="numeric" value={rate} onInput={(event) => setRate(event.currentTarget.value)} />
          </label>
          <label>
            Duration (seconds)
            <input
              inputMode="numeric"
              value={duration}
              onInput={(event) => setDuration(event.currentTarget.value)}
            />
          </label>
          <button type="submit" disabled={running !== undefined}>
            Start
          </button>
        </form>
      </Section>
      {shown.data ? (
        <Section title={`Run ${shown.data.id} (${shown.data.status})`}>
          {progress ? (
            <div class="stats">
              <Stat
                label="Elapsed"
                value={`${progress.elapsedSeconds.toFixed(0)} / ${progress.totalSeconds} s`}
              />
              <Stat label="Requests" value={progress.requests} />
              <Stat label="Achieved/s" value={progress.achievedRate.toFixed(1)} />
              <Stat label="p50" value={`${progress.p50Ms.toFixed(0)} ms`} />
              <Stat label="p99" value={`${progress.p99Ms.toFixed(0)} ms`} />
              <Stat label="Errors" value={progress.errors} />
            </div>
          ) : null}
          <LineChart title="Achieved rate and p99 latency" history={history} />
          {shown.data.status === 'running' ? (
            <button type="button" onClick={() => stop(shown.data?.id ?? '')}>
              Stop run
            </button>
          ) : null}
          {shown.data.error ? <p class="error">{shown.data.error}</p> : null}
          {shown.data.hasReport ? (
            <button type="button" class="secondary" onClick={() => download(shown.data?.id ?? '')}>
              Download HTML report
            </button>
          ) : null}
          {shown.data.report !== undefined ? (
            <details>
              <summary>JSON report</summary>
              <Json value={shown.data.report} />
            </details>
          ) : null}
        </Section>
      ) : null}
      <Section title="Runs">
        <Table
          caption="Load runs, running and past"
          rows={runs.data?.items ?? []}
          rowKey={(run) => run.id}
          empty="No load test has run yet."
          columns={[
            {
              title: 'Run',
              cell: (run) => (
                <button type="button" class="link" onClick={() => setSelected(run.id)}>
                  {run.id}
                </button>
              ),
            },
            { title: 'Scenario', cell: (run) => run.scenario },
            { title: 'Rate', cell: (run) => run.rate, numeric: true },
            { title: 'Duration', cell: (run) => `${run.durationSeconds} s`, numeric: true },
            { title: 'Status', cell: (run) => run.status },
            { title: 'Started', cell: (run) => formatTime(run.startedAt) },
          ]}
        />
      </Section>
    </>
  )
}
