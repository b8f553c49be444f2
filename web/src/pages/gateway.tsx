import { Empty, ErrorBox, Section, Table } from '../components.tsx'
import { useServices } from '../context.ts'
import { usePoll } from '../poll.ts'
import type { GatewayOverview } from '../types.ts'

function CountTable({
  caption,
  counts,
  empty,
}: {
  caption: string
  counts: Record<string, number>
  empty: string
}) {
  return (
    <Table
      caption={caption}
      rows={Object.entries(counts)}
      rowKey={([name]) => name}
      empty={empty}
      columns={[
        { title: 'Name', cell: ([name]) => name },
        { title: 'Total', cell: ([, count]) => count, numeric: true },
      ]}
    />
  )
}

export function GatewayPage() {
  const { api } = useServices()
  const gateway = usePoll(() => api.get<GatewayOverview>('admin', '/api/admin/gateway'), 2000)
  const data = gateway.data
  return (
    <>
      <ErrorBox error={gateway.error} />
      {data ? (
        <>
          {!data.up ? (
            <p class="error">Gateway metrics do not answer: {data.error ?? 'down'}. Start payrail gateway.</p>
          ) : null}
          <Section title="Upstream instances">
            <Table
              caption="Instances behind the gateway"
              rows={data.instances}
              rowKey={(row) => `${row.upstream}/${row.instance}`}
              empty="No upstream instance reported."
              columns={[
                { title: 'Upstream', cell: (row) => row.upstream },
                { title: 'Instance', cell: (row) => <code>{row.instance}</code> },
                {
                  title: 'State',
                  cell: (row) =>
                    row.ejected ? (
                      <span class="badge bad">ejected</span>
                    ) : row.available ? (
                      <span class="badge ok">available</span>
                    ) : (
                      <span class="badge bad">unavailable</span>
                    ),
                },
                { title: 'In flight', cell: (row) => row.inFlight, numeric: true },
                { title: 'Connections', cell: (row) => row.connected, numeric: true },
              ]}
            />
          </Section>
          <Section title="Timeouts by kind">
            <Table
              caption="Upstream timeouts"
              rows={data.timeouts}
              rowKey={(row) => `${row.upstream}/${row.kind}`}
              empty="No timeout so far."
              columns={[
                { title: 'Upstream', cell: (row) => row.upstream },
                { title: 'Kind', cell: (row) => row.kind },
                { title: 'Total', cell: (row) => row.total, numeric: true },
              ]}
            />
          </Section>
          <Section title="Retries">
            <CountTable caption="Retries by upstream" counts={data.retries} empty="No retry so far." />
            <CountTable
              caption="Retries denied by the budget"
              counts={data.retriesDenied}
              empty="No retry denied."
            />
          </Section>
          <Section title="Rate-limit rejections">
            <CountTable
              caption="429 answers by limit"
              counts={data.rateLimited}
              empty="No request was rate limited."
            />
          </Section>
        </>
      ) : gateway.error ? null : (
        <Empty>Loading…</Empty>
      )}
    </>
  )
}
