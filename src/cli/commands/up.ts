import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { Command } from 'commander'
import { openDatabase } from '../../db/database.ts'
import { issueApiKey, revokeMerchantKeys } from '../../db/merchants.ts'
import { PayrailError } from '../../domain/errors.ts'
import { bootstrapBrokers } from '../../kafka/connection.ts'
import { startBroker, stopBroker } from '../../kafka/local-broker/broker.ts'
import {
  config,
  describeTopicAction,
  ensurePayrailTopics,
  ROOT,
  replicationNotes,
  runMigrations,
  say,
  warn,
} from '../context.ts'
import { Supervisor } from '../supervisor.ts'
import { ensureWebBuild } from '../web-build.ts'

const DEMO_MERCHANT = 'demo'
const DEFAULT_UPSTREAM = 'http://127.0.0.1:8081'
const DEFAULT_DASHBOARD_API = 'http://127.0.0.1:8080'

export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'run the whole platform on this machine: Kafka broker, database, topics and every role; Ctrl-C stops it all',
    )
    .option(
      '--scale <role=n>',
      'processes of a role: api=N runs N api processes on API_PORT, API_PORT+1, … behind the gateway (API_PROCESSES)',
    )
    .action(async (options: { scale?: string }) => {
      const cfg = config()
      const apiProcesses = options.scale === undefined ? cfg.API_PROCESSES : scaleOf(options.scale)
      const supervisor = new Supervisor()
      let brokerStartedHere = false
      const shutdown = async () => {
        await supervisor.stopAll()
        if (brokerStartedHere) await stopBroker({ root: ROOT, say })
      }

      let databaseUrl = ''
      let demoKey = ''
      // The operations plane (the dashboard's console, DLQ replay) needs an admin token: one is
      // made for this run when none is configured, and printed beside the demo key, so that a
      // newcomer's first `payrail up` has a console that works.
      const adminToken = cfg.ADMIN_TOKEN ?? randomBytes(24).toString('base64url')
      // An address to reach a role at: a wildcard bind is reached on loopback.
      const at = (bound: string) => (bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound)
      const host = at(cfg.HOST)
      const apiUrls = Array.from(
        { length: apiProcesses },
        (_, i) => `http://${at(cfg.API_HOST)}:${cfg.API_PORT + i}`,
      )
      // The gateway fronts the api started here, unless told to front others.
      const upstream =
        cfg.GATEWAY_UPSTREAM_API === DEFAULT_UPSTREAM ? apiUrls.join(',') : cfg.GATEWAY_UPSTREAM_API
      const gatewayUrl = `http://${host}:${cfg.GATEWAY_PORT}`
      const dashboardUrl = `http://${host}:${cfg.DASHBOARD_PORT}`
      // The dashboard calls the gateway started here (unless told another API), and that gateway
      // lets the dashboard's origins call it besides those configured.
      const dashboardApi =
        cfg.DASHBOARD_API_ORIGIN === DEFAULT_DASHBOARD_API ? gatewayUrl : cfg.DASHBOARD_API_ORIGIN
      const corsOrigins = [
        ...new Set([
          ...cfg.GATEWAY_CORS_ORIGINS.split(',').filter((origin) => origin !== ''),
          dashboardUrl,
          `http://localhost:${cfg.DASHBOARD_PORT}`,
        ]),
      ].join(',')
      const roles = [
        {
          role: 'acquirer',
          url: `http://${at(cfg.ACQUIRER_HOST)}:${cfg.ACQUIRER_PORT}`,
          what: 'card-processor simulator',
        },
        // Each api process is a role of its own, on the next port, so that each is health-checked,
        // scraped and ejected by the gateway on its own.
        ...Array.from({ length: apiProcesses }, (_, i) => ({
          role: 'api',
          url: apiUrls[i] as string,
          port: cfg.API_PORT + i,
          what: `payment API${apiProcesses > 1 ? ` ${i + 1} of ${apiProcesses}` : ''} (OpenAPI at /api/openapi.json)`,
        })),
        {
          role: 'gateway',
          url: gatewayUrl,
          what: `public entry → api (${upstream}); rate limits ${cfg.REDIS_URL === undefined ? 'in memory' : 'in Redis'}`,
        },
        {
          role: 'relay',
          url: `http://${host}:${cfg.RELAY_METRICS_PORT}`,
          what: 'outbox → Kafka (health, metrics)',
        },
        {
          role: 'worker',
          url: `http://${host}:${cfg.WORKER_METRICS_PORT}`,
          what: 'settlement, refund and ledger consumers (health, metrics)',
        },
        {
          role: 'notifier',
          url: `http://${host}:${cfg.NOTIFIER_METRICS_PORT}`,
          what: "merchants' webhooks: signed, retried deliveries (health, metrics)",
        },
        {
          role: 'dashboard',
          url: dashboardUrl,
          what: `web console (calls ${dashboardApi}; also served by the gateway at /)`,
        },
      ]
      try {
        ensureWebBuild(ROOT, say)
        if (cfg.KAFKA_BROKERS === '') {
          brokerStartedHere = (await startBroker({ root: ROOT, say })).started
        }
        const migrated = await runMigrations(cfg)
        databaseUrl = migrated.safeUrl
        say(`database ${databaseUrl}: ${migrated.current.length} migrations applied`)
        for (const action of await ensurePayrailTopics(cfg)) {
          say(`topic   ${describeTopicAction(action)}`)
          for (const note of replicationNotes(action)) (note.warning ? warn : say)(`topic   ${note.line}`)
        }

        // A fresh demo key each time: the previous ones are revoked, since nobody can read them back.
        const handle = openDatabase({ url: cfg.DATABASE_URL, poolMax: 1 })
        try {
          await revokeMerchantKeys(handle.db, DEMO_MERCHANT)
          demoKey = (await issueApiKey(handle.db, DEMO_MERCHANT, 'Demo shop')).key
        } finally {
          await handle.close()
        }

        const env = {
          ...process.env,
          ...(cfg.KAFKA_BROKERS === '' ? {} : { KAFKA_BROKERS: cfg.KAFKA_BROKERS }),
          GATEWAY_UPSTREAM_API: upstream,
          GATEWAY_CORS_ORIGINS: corsOrigins,
          DASHBOARD_API_ORIGIN: dashboardApi,
          ADMIN_TOKEN: adminToken,
          // The operations endpoints read the roles started here (each api process of --scale),
          // unless told to read others.
          OPS_TARGETS: process.env.OPS_TARGETS ?? roles.map((role) => `${role.role}=${role.url}`).join(','),
        }
        for (const role of roles) {
          const port = 'port' in role ? { API_PORT: String(role.port) } : {}
          await supervisor.start(role, { ...env, ...port })
          say(`role    ${role.role} ready at ${role.url}`)
        }
      } catch (error) {
        await shutdown()
        throw error
      }

      say('')
      say('payrail is up')
      say(
        `  kafka      ${bootstrapBrokers(cfg).join(',')}${brokerStartedHere ? ' (local broker started by this command)' : ''}`,
      )
      say(`  database   ${databaseUrl}`)
      for (const role of roles) say(`  ${role.role.padEnd(10)} ${role.url}  ${role.what}`)
      say(`  demo key   ${demoKey}  (merchant "${DEMO_MERCHANT}")`)
      if (cfg.ADMIN_TOKEN === undefined)
        say(`  admin token ${adminToken}  (made for this run; set ADMIN_TOKEN to keep one)`)
      else say('  admin token from ADMIN_TOKEN')
      say('')
      const gateway = roles.find((role) => role.role === 'gateway')
      say(`  curl -X POST ${gateway?.url}/api/payments/authorize -H 'authorization: Bearer ${demoKey}' \\`)
      say(
        `       -H 'content-type: application/json' -d '{"amount":15000,"currency":"KRW","idempotencyKey":"order-1"}'`,
      )
      say('Press Ctrl-C to stop.')

      const unexpected = supervisor.unexpectedExit()
      const signal = Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]).then(
        ([name]) => `received ${String(name)}`,
      )
      // Signal listeners alone do not keep Node's event loop alive.
      const keepAlive = setInterval(() => {}, 1 << 30)
      const reason = await Promise.race([signal, unexpected])
      clearInterval(keepAlive)
      say(`\n${reason}; stopping`)
      await shutdown()
      say('stopped')
      if (reason.includes('unexpectedly')) process.exitCode = 1
    })
}

/** `api=N` of `--scale`: the one role that scales today. */
function scaleOf(text: string): number {
  const match = /^api=(\d+)$/.exec(text.trim())
  const n = match === null ? Number.NaN : Number(match[1])
  if (!(Number.isInteger(n) && n >= 1 && n <= 64))
    throw new PayrailError('USAGE', `--scale takes api=N with N from 1 to 64 (got ${text})`)
  return n
}
