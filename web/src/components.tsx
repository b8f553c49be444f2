import type { ComponentChildren } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

/** What went wrong and what to do about it, announced to screen readers. */
export function ErrorBox({ error }: { error: Error | undefined }) {
  if (error === undefined) return null
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  )
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  )
}

export interface Column<Row> {
  title: string
  cell: (row: Row) => ComponentChildren
  numeric?: boolean
}

/** A table that scrolls sideways on a narrow screen instead of overflowing the page. */
export function Table<Row>({
  caption,
  columns,
  rows,
  rowKey,
  empty,
}: {
  caption: string
  columns: Column<Row>[]
  rows: Row[]
  rowKey: (row: Row) => string
  empty: ComponentChildren
}) {
  if (rows.length === 0) return <Empty>{empty}</Empty>
  return (
    <div class="table-wrap">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th scope="col" key={column.title} class={column.numeric ? 'num' : undefined}>
                {column.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((column) => (
                <td key={column.title} class={column.numeric ? 'num' : undefined}>
                  {column.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

export function Stat({ label, value }: { label: string; value: ComponentChildren }) {
  return (
    <div class="stat">
      <span class="stat-label">{label}</span>
      <span class="stat-value">{value}</span>
    </div>
  )
}

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2']

/** A live line chart of a few series over time (uPlot); the numbers are also in the page's tables. */
export function LineChart({
  title,
  history,
}: {
  title: string
  history: { t: number[]; series: Record<string, (number | null)[]> }
}) {
  const host = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | undefined>(undefined)
  const names = Object.keys(history.series)
  const shape = names.join('|')

  // Dependencies: rebuilt only when the series change
  useEffect(() => {
    const element = host.current
    if (element === null) return
    const width = () => Math.max(260, element.clientWidth)
    const chart = new uPlot(
      {
        width: width(),
        height: 180,
        series: [
          {},
          ...names.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2 })),
        ],
        axes: [{}, { size: 60 }],
        legend: { show: true },
      },
      [history.t, ...names.map((name) => history.series[name] ?? [])],
      element,
    )
    plot.current = chart
    const resize = new ResizeObserver(() => chart.setSize({ width: width(), height: 180 }))
    resize.observe(element)
    return () => {
      resize.disconnect()
      chart.destroy()
      plot.current = undefined
    }
  }, [shape])

  useEffect(() => {
    plot.current?.setData([history.t, ...names.map((name) => history.series[name] ?? [])])
  })

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      {history.t.length < 2 ? <p class="empty">Collecting samples…</p> : null}
      <div ref={host} role="img" aria-label={`${title} chart`} hidden={history.t.length < 2} />
    </figure>
  )
}

export function formatAmount(amount: number, currency: string): string {
  return `${amount.toLocaleString('en')} ${currency}`
}

export function formatTime(iso: string | number): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? String(iso) : date.toISOString().replace('T', ' ').slice(0, 19)
}

export function Json({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>
}
