// Reads the provisioned dashboards back from deploy/grafana/dashboards as Grafana sees them, for
// the checks of their queries (test/operations/grafana-dashboards.test.ts) and for anyone who
// runs those queries against a real Prometheus.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DASHBOARD_DIR } from './dashboards.ts'

/** The part of Grafana's dashboard model the checks read. */
export interface GrafanaPanel {
  id?: number
  type: string
  title?: string
  description?: string
  datasource?: { type?: string; uid?: string }
  fieldConfig?: { defaults?: { unit?: string } }
  targets?: { refId?: string; expr?: string; datasource?: { type?: string; uid?: string } }[]
  /** A row's panels when it is collapsed. */
  panels?: GrafanaPanel[]
}

export interface GrafanaDashboard {
  uid: string
  title: string
  panels?: GrafanaPanel[]
  templating?: { list?: { name: string; type: string; query?: unknown }[] }
}

/** One query of one panel, with where it comes from. */
export interface DashboardQuery {
  file: string
  panel: string
  panelId: number | undefined
  refId: string
  expr: string
}

/** Every dashboard JSON file of `root`'s deploy/grafana/dashboards by file name. */
export function readDashboards(root: string): Map<string, GrafanaDashboard> {
  const directory = join(root, DASHBOARD_DIR)
  const files = readdirSync(directory)
    .filter((file) => file.endsWith('.json'))
    .sort()
  return new Map(
    files.map((file) => [file, JSON.parse(readFileSync(join(directory, file), 'utf8')) as GrafanaDashboard]),
  )
}

/** The panels that show data: rows are left out, the panels of collapsed rows included. */
export function panelsOf(dashboard: GrafanaDashboard): GrafanaPanel[] {
  return (dashboard.panels ?? []).flatMap((panel) =>
    panel.type === 'row' ? (panel.panels ?? []) : [panel, ...(panel.panels ?? [])],
  )
}

/** Every query of the panels of `dashboard` (read from `file`). */
export function queriesOf(file: string, dashboard: GrafanaDashboard): DashboardQuery[] {
  return panelsOf(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      file,
      panel: panel.title ?? '(untitled)',
      panelId: panel.id,
      refId: target.refId ?? '?',
      expr: target.expr ?? '',
    })),
  )
}

/**
 * `expr` as Prometheus can run it outside Grafana: `$__rate_interval` and `$__interval` become
 * `1m`, `$__range` `5m`, and every template variable (always `label=~"$var"`) `.*`.
 */
export function forPrometheus(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '5m')
    .replace(/\$[A-Za-z_]\w*/g, '.*')
}
