import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard'
import { acquirerDashboard } from './acquirer.ts'
import { gatewayDashboard } from './gateway.ts'
import { outboxDashboard } from './outbox.ts'
import { overview } from './overview.ts'
import { processesDashboard } from './processes.ts'
import { workersDashboard } from './workers.ts'

/** Where Grafana's dashboard provider reads them (mounted at /var/lib/grafana/dashboards). */
export const DASHBOARD_DIR = 'deploy/grafana/dashboards'

/** Every payrail dashboard by the name of its file in DASHBOARD_DIR. */
export function payrailDashboards(): Map<string, dashboard.Dashboard> {
  return new Map([
    ['overview.json', overview()],
    ['gateway.json', gatewayDashboard()],
    ['outbox.json', outboxDashboard()],
    ['workers.json', workersDashboard()],
    ['acquirer.json', acquirerDashboard()],
    ['processes.json', processesDashboard()],
  ])
}
