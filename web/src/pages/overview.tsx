import { Empty, ErrorBox, LineChart, Section, Stat, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { useHistory, usePoll } from '../poll.ts'
import type { Overview } from '../types.ts'

export function OverviewPage() {
  const { api } = useServices()
  const overview = usePoll(() => api.get<Overview>('admin', '/api/admin/overview'), 2000)
  const data = overview.data
  const total = data?.routes.reduce((sum, route) => sum + route.requestsPerSecond, 0)
  const history = useHistory(
    data ? { 'requests/s': total ?? 0, 'authorizations/min': data.authorizationsPerMinute } : undefined,
    overview.at,
  )
  return (
    <>
      <ErrorBox error={overview.error} />
      {data ? (
        <>
          <div class="stats">
            <Stat label="Requests/s" value={total?.toFixed(1) ?? '–'} />
            <Stat
              label="Authorizations/min"
              value={data.authorizationsPerMinute == null ? '–' : data.authorizationsPerMinute.toFixed(0)}
            />
            <Stat
              label="Roles up"
              value={`${data.roles.filter((role) => role.up).length} / ${data.roles.length}`}
            />
          </div>
          <Section title="Traffic">
            <LineChart title="Requests per second and authorizations per minute" history={history} />
          </Section>
          <Section title="Roles">
            <Table
              caption="Each role of the platform"
              rows={data.roles}
              rowKey={(role) => role.url}
              empty="No role configured."
              columns={[
                { title: 'Role', cell: (role) => role.role },
                { title: 'URL', cell: (role) => <code>{role.url}</code> },
                {
                  title: 'Up',
                  cell: (role) => (
                    <span class={`badge ${role.up ? 'ok' : 'bad'}`}>{role.up ? 'up' : 'down'}</span>
                  ),
                },
                {
                  title: 'Ready',
                  cell: (role) => (
                    <span class={`badge ${role.ready ? 'ok' : 'bad'}`}>
                      {role.ready ? 'ready' : 'not ready'}
                    </span>
                  ),
                },
                { title: 'Version', cell: (role) => role.version ?? '–' },
                { title: 'Problem', cell: (role) => role.error ?? '' },
              ]}
            />
          </Section>
          <Section title="Routes">
            <Table
              caption="Per route at the gateway"
              rows={data.routes}
              rowKey={(route) => route.route}
              empty="No traffic yet: authorize a payment in the Shop demo or start a load test."
              columns={[
                { title: 'Route', cell: (route) => route.route },
                { title: 'Requests/s', cell: (route) => route.requestsPerSecond.toFixed(2), numeric: true },
                {
                  title: 'Errors',
                  cell: (route) => `${(route.errorRate * 100).toFixed(1)} %`,
                  numeric: true,
                },
                {
                  title: 'p99',
                  cell: (route) =>
                    route.p99Seconds == null ? '–' : `${(route.p99Seconds * 1000).toFixed(0)} ms`,
                  numeric: true,
                },
              ]}
            />
          </Section>
          <Section title="Alerts">
            {data.alerts === null ? (
              <Empty>
                Prometheus is not configured (PROMETHEUS_URL): run payrail monitoring to get alerts.
              </Empty>
            ) : (
              <>
                {data.alerts.error ? (
                  <p class="error">Prometheus does not answer: {data.alerts.error}</p>
                ) : null}
                <Table
                  caption="Active alerts"
                  rows={data.alerts.items}
                  rowKey={(alert) => `${alert.name}-${alert.activeAt}`}
                  empty="No active alert."
                  columns={[
                    { title: 'Alert', cell: (alert) => alert.name },
                    { title: 'State', cell: (alert) => alert.state },
                    { title: 'Severity', cell: (alert) => alert.severity ?? '' },
                    { title: 'Summary', cell: (alert) => alert.summary ?? '' },
                  ]}
                />
              </>
            )}
          </Section>
        </>
      ) : overview.error ? null : (
        <Empty>Loading…</Empty>
      )}
    </>
  )
}
