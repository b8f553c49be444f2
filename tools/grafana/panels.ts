import * as common from '@grafana/grafana-foundation-sdk/common'
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus'
import * as stat from '@grafana/grafana-foundation-sdk/stat'
import * as table from '@grafana/grafana-foundation-sdk/table'
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries'
import { BREAKER_GAUGE_VALUE, type BreakerState } from '../../src/runtime/breaker.ts'

/** The Prometheus datasource that deploy/grafana/provisioning/datasources/prometheus.yml provisions. */
export const PROMETHEUS: common.DataSourceRef = { type: 'prometheus', uid: 'prometheus' }

/** One PromQL query of a panel; `legend` is Grafana's legend format (`{{label}}`). */
export interface Query {
  expr: string
  legend?: string
}

/** What every panel must say: what it shows (description) and in which unit. */
export interface PanelSpec {
  title: string
  description: string
  /** A Grafana unit id (`units.*` of the foundation SDK). */
  unit: string
  queries: readonly Query[]
  /** Width in grid columns (of 24). Default: 12 for a graph, 6 for a stat. */
  span?: number
  /** Height in grid rows. Default: 8 for a graph, 4 for a stat. */
  height?: number
  min?: number
  max?: number
  decimals?: number
  /** Values from which the colour turns orange and then red (absolute); none: a single colour. */
  warnAt?: number
  badAt?: number
  mappings?: dashboard.ValueMapping[]
}

function targets(queries: readonly Query[], instant: boolean): DataqueryBuilder[] {
  return queries.map((query, index) => {
    const target = new DataqueryBuilder()
      .refId(String.fromCharCode(65 + index))
      .datasource(PROMETHEUS)
      .expr(query.expr)
      .legendFormat(query.legend ?? '__auto')
    return instant ? target.instant().format(PromQueryFormat.Table) : target.range()
  })
}

function thresholds(spec: PanelSpec): dashboard.ThresholdsConfigBuilder {
  const steps: dashboard.Threshold[] = [{ value: null, color: 'green' }]
  if (spec.warnAt !== undefined) steps.push({ value: spec.warnAt, color: 'orange' })
  if (spec.badAt !== undefined) steps.push({ value: spec.badAt, color: 'red' })
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps)
}

/** The settings every kind of panel shares: title, description, unit, queries, size, range, colours. */
function common_<T extends timeseries.PanelBuilder | stat.PanelBuilder | table.PanelBuilder>(
  panel: T,
  spec: PanelSpec,
  instant: boolean,
): T {
  panel
    .title(spec.title)
    .description(spec.description)
    .unit(spec.unit)
    .datasource(PROMETHEUS)
    .thresholds(thresholds(spec))
  for (const target of targets(spec.queries, instant)) panel.withTarget(target)
  if (spec.min !== undefined) panel.min(spec.min)
  if (spec.max !== undefined) panel.max(spec.max)
  if (spec.decimals !== undefined) panel.decimals(spec.decimals)
  if (spec.mappings !== undefined) panel.mappings(spec.mappings)
  return panel
}

/** A graph over time, legend below it listing each series' labels, tooltip with every series. */
export function graph(spec: PanelSpec & { stepped?: boolean }): timeseries.PanelBuilder {
  const panel = common_(new timeseries.PanelBuilder(), spec, false)
    .span(spec.span ?? 12)
    .height(spec.height ?? 8)
    .fillOpacity(10)
    .showPoints(common.VisibilityMode.Never)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    )
  if (spec.stepped === true) panel.lineInterpolation(common.LineInterpolation.StepAfter)
  if (spec.warnAt !== undefined || spec.badAt !== undefined)
    panel.thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    )
  return panel
}

/** One current value (the last of the range) per series, coloured by the thresholds. */
export function single(spec: PanelSpec): stat.PanelBuilder {
  return common_(new stat.PanelBuilder(), spec, false)
    .span(spec.span ?? 6)
    .height(spec.height ?? 4)
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.Area)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
}

/** A table of an instant query's series, one row per series and one column per label (time and value hidden). */
export function labelTable(spec: PanelSpec): table.PanelBuilder {
  return common_(new table.PanelBuilder(), spec, true)
    .span(spec.span ?? 24)
    .height(spec.height ?? 6)
    .withTransformation({
      id: 'organize',
      options: { excludeByName: { Time: true, Value: true, __name__: true } },
    })
}

/** A breaker gauge's values (src/runtime/breaker.ts) as words and colours. */
export function breakerMappings(): dashboard.ValueMapping[] {
  const colour: Record<BreakerState, string> = { closed: 'green', 'half-open': 'orange', open: 'red' }
  const options: Record<string, dashboard.ValueMappingResult> = {}
  for (const [state, value] of Object.entries(BREAKER_GAUGE_VALUE))
    options[String(value)] = { text: state, color: colour[state as BreakerState], index: value }
  return [{ type: dashboard.MappingType.ValueToText, options }]
}

/** 0/1 gauges as no/yes with colours (`bad` says which of the two is the bad one). */
export function yesNoMappings(bad: 0 | 1): dashboard.ValueMapping[] {
  return [
    {
      type: dashboard.MappingType.ValueToText,
      options: {
        '0': { text: 'no', color: bad === 0 ? 'red' : 'green', index: 0 },
        '1': { text: 'yes', color: bad === 1 ? 'red' : 'green', index: 1 },
      },
    },
  ]
}

/**
 * A multi-value template variable over the values of `label` in `metric` (a selector, which may
 * use an earlier variable), "All" meaning `.*`; queries use it only as `label=~"$name"`.
 */
export function labelVariable(name: string, label: string, metric: string): dashboard.QueryVariableBuilder {
  const query = `label_values(${metric}, ${label})`
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(PROMETHEUS)
    .query(query)
    .definition(query)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current({ text: 'All', value: '$__all', selected: true })
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
}

export interface DashboardSpec {
  uid: string
  title: string
  description: string
  variables?: readonly dashboard.QueryVariableBuilder[]
  rows: readonly {
    title: string
    panels: readonly (timeseries.PanelBuilder | stat.PanelBuilder | table.PanelBuilder)[]
  }[]
}

/**
 * A payrail dashboard: tagged `payrail` with links to the others, last hour refreshed every
 * 30 s, its rows in order, and every panel numbered (Grafana needs an id unique per dashboard).
 */
export function payrailDashboard(spec: DashboardSpec): dashboard.Dashboard {
  const builder = new dashboard.DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags(['payrail'])
    .editable()
    .timezone('browser')
    .time({ from: 'now-1h', to: 'now' })
    .refresh('30s')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(
      new dashboard.DashboardLinkBuilder('payrail')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags(['payrail'])
        .asDropdown(true)
        .includeVars(false)
        .keepTime(true),
    )
  for (const variable of spec.variables ?? []) builder.withVariable(variable)
  for (const row of spec.rows) {
    builder.withRow(new dashboard.RowBuilder(row.title))
    for (const panel of row.panels) builder.withPanel(panel)
  }
  const built = builder.build()
  let id = 0
  for (const panel of built.panels ?? []) {
    id += 1
    panel.id = id
  }
  return built
}
