import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { ApiClient } from './api.ts'
import { type AppServices, Services, useServices } from './context.ts'
import { DeadLettersPage } from './pages/dead-letters.tsx'
import { GatewayPage } from './pages/gateway.tsx'
import { KafkaPage } from './pages/kafka.tsx'
import { LedgerPage } from './pages/ledger.tsx'
import { LoadPage } from './pages/load.tsx'
import { OutboxPage } from './pages/outbox.tsx'
import { OverviewPage } from './pages/overview.tsx'
import { PaymentsPage } from './pages/payments.tsx'
import { ShopPage } from './pages/shop.tsx'
import { WebhooksPage } from './pages/webhooks.tsx'
import { SessionSecrets } from './session.ts'
import './styles.css'

const PAGES = [
  { path: 'shop', title: 'Shop demo' },
  { path: 'payments', title: 'Payments' },
  { path: 'overview', title: 'Overview' },
  { path: 'outbox', title: 'Outbox and relays' },
  { path: 'dead-letters', title: 'Dead letters' },
  { path: 'kafka', title: 'Workers and Kafka' },
  { path: 'gateway', title: 'Gateway' },
  { path: 'ledger', title: 'Ledger' },
  { path: 'webhooks', title: 'Webhooks' },
  { path: 'load', title: 'Load tests' },
] as const

/** Pages are addressed by the fragment (#/outbox), so any static server can serve the app. */
function useRoute(): { page: string; rest: string | undefined } {
  const parse = () => {
    const [page = 'shop', rest] = location.hash.replace(/^#\/?/, '').split('/')
    return {
      page: page === '' ? 'shop' : page,
      rest: rest === undefined ? undefined : decodeURIComponent(rest),
    }
  }
  const [route, setRoute] = useState(parse)
  useEffect(() => {
    const onChange = () => setRoute(parse())
    addEventListener('hashchange', onChange)
    return () => removeEventListener('hashchange', onChange)
  }, [])
  return route
}

/** A password field for one secret; once set, it shows that it is, never what it is. */
function SecretField(props: {
  label: string
  name: string
  hint: string
  isSet: boolean
  value: string
  onInput: (value: string) => void
}) {
  return (
    <label>
      {props.label} {props.isSet ? <span class="badge ok">set</span> : null}
      <input
        type="password"
        name={props.name}
        autoComplete="off"
        value={props.value}
        placeholder={props.isSet ? '•••••• (kept for this tab)' : props.hint}
        onInput={(event) => props.onInput(event.currentTarget.value)}
      />
    </label>
  )
}

/** Password fields for the two secrets: what is typed goes to sessionStorage, never to the URL. */
function SecretsBar() {
  const { secrets, api } = useServices()
  const [current, setCurrent] = useState(secrets.get())
  useEffect(() => secrets.subscribe(() => setCurrent(secrets.get())), [secrets])
  const [admin, setAdmin] = useState('')
  const [merchant, setMerchant] = useState('')
  return (
    <form
      class="secrets"
      onSubmit={(event) => {
        event.preventDefault()
        if (admin !== '') secrets.setAdminToken(admin)
        if (merchant !== '') secrets.setMerchantKey(merchant)
        setAdmin('')
        setMerchant('')
      }}
    >
      <SecretField
        label="Admin token"
        name="adminToken"
        hint="ADMIN_TOKEN"
        isSet={current.adminToken !== ''}
        value={admin}
        onInput={setAdmin}
      />
      <SecretField
        label="Merchant key"
        name="merchantKey"
        hint="prk_…"
        isSet={current.merchantKey !== ''}
        value={merchant}
        onInput={setMerchant}
      />
      <div class="buttons">
        <button type="submit">Use</button>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            secrets.setAdminToken('')
            secrets.setMerchantKey('')
          }}
        >
          Forget
        </button>
      </div>
      <span class="origin">
        API <code>{api.origin}</code>
      </span>
    </form>
  )
}

function App() {
  const route = useRoute()
  const page = PAGES.find((candidate) => candidate.path === route.page) ?? PAGES[0]
  useEffect(() => {
    document.title = `${page.title} · payrail`
    document.querySelector<HTMLElement>('main h1')?.focus()
  }, [page])
  return (
    <>
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header>
        <span class="brand">payrail</span>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((candidate) => (
              <li key={candidate.path}>
                <a
                  href={`#/${candidate.path}`}
                  aria-current={candidate.path === page.path ? 'page' : undefined}
                >
                  {candidate.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <SecretsBar />
      <main id="main" tabIndex={-1}>
        <h1 tabIndex={-1}>{page.title}</h1>
        {page.path === 'shop' ? <ShopPage /> : null}
        {page.path === 'payments' ? <PaymentsPage selected={route.rest} /> : null}
        {page.path === 'overview' ? <OverviewPage /> : null}
        {page.path === 'outbox' ? <OutboxPage /> : null}
        {page.path === 'dead-letters' ? <DeadLettersPage /> : null}
        {page.path === 'kafka' ? <KafkaPage /> : null}
        {page.path === 'gateway' ? <GatewayPage /> : null}
        {page.path === 'ledger' ? <LedgerPage /> : null}
        {page.path === 'webhooks' ? <WebhooksPage /> : null}
        {page.path === 'load' ? <LoadPage /> : null}
      </main>
    </>
  )
}

/**
 * The API origin: `config.json` beside the app when `payrail dashboard` serves it (the gateway's
 * address), else this page's own origin (the gateway serving the app at `/`).
 */
async function apiOrigin(): Promise<string> {
  try {
    const answer = await fetch('./config.json', { cache: 'no-store' })
    if (answer.ok) {
      const config = (await answer.json()) as { apiOrigin?: unknown }
      if (typeof config.apiOrigin === 'string') return config.apiOrigin
    }
  } catch {
    // No config.json: served by the gateway, whose origin is the API's.
  }
  return location.origin
}

const root = document.getElementById('app')
if (root === null) throw new Error('no #app element in index.html')
const secrets = new SessionSecrets(sessionStorage)
const services: AppServices = { secrets, api: new ApiClient(await apiOrigin(), secrets) }
render(
  <Services.Provider value={services}>
    <App />
  </Services.Provider>,
  root,
)
