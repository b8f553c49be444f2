/**
 * bench/gateway: the same tiny fixed-response upstream behind payrail's gateway and behind nginx
 * (Debian package, one worker, keep-alive upstream pool), driven by bench/lib/load.ts at the same
 * concurrency, one after the other; prints requests/s, p50/p99 and the gateway's ratios against
 * nginx. Targets: at least 70 % of nginx's throughput, p99 at most 1.5 times nginx's.
 *
 *   ./payrail bench gateway [--duration 10] [--connections 64] [--rounds 3]
 *
 * Everything listens on 127.0.0.1. The gateway runs as deployed (rate limits in memory, raised so
 * that no request is refused; health checks; metrics), with LOG_LEVEL=warn, as nginx runs with
 * access_log off. Each proxy holds at most `connections` keep-alive connections to the upstream.
 * Each round runs nginx and the gateway back to back (alternating which goes first); the ratios
 * are the median of the rounds' ratios, so that drift on this shared 2-core machine hits both.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { freePort, startRole } from '../../support/processes.ts'
import { type LoadResult, runLoad } from '../lib/load.ts'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
})
const duration = Number(values.duration)
const connections = Number(values.connections)
const rounds = Number(values.rounds)
for (const [name, value] of [
  ['--duration', duration],
  ['--connections', connections],
  ['--rounds', rounds],
] as const) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number`)
}

const nginxBinary = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => spawnSync(path, ['-v']).status === 0)
if (nginxBinary === undefined) {
  throw new Error(
    'nginx is not installed: on Debian, `apt-get install -y nginx` (it is run here as a plain process)',
  )
}

const PATH = '/api/payments/pay_bench'
// Of the form payrail issues: the gateway answers any other with 401 itself.
const KEY = 'prk_benchkey_0123456789abcdefghijklmnopqrstuvwxy'

async function waitForHttp(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`)
    const ok = await fetch(url).then(
      (response) => response.ok,
      () => false,
    )
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url}`)
    await sleep(50)
  }
}

async function startUpstream(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort()
  const child = spawn(process.execPath, [join(import.meta.dirname, 'upstream.ts'), String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/readyz`, child, 'the upstream')
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}

async function startNginx(upstreamPort: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'payrail-bench-nginx-'))
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub))
  const port = await freePort()
  // Equivalent to the gateway's pool: HTTP/1.1 keep-alive to the upstream, up to `connections`
  // idle connections kept, one request per connection at a time; the same timeouts as payrail's.
  const config = `
worker_processes 1;
daemon off;
master_process on;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections ${Math.max(1024, connections * 4)}; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_max_body_size 16k;
  upstream api {
    server 127.0.0.1:${upstreamPort};
    keepalive ${connections};
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 2s;
      proxy_read_timeout 20s;
    }
  }
}
`
  writeFileSync(join(dir, 'nginx.conf'), config)
  const child = spawn(nginxBinary as string, ['-p', dir, '-c', join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}${PATH}`, child, 'nginx')
  return {
    url,
    stop: async () => {
      // QUIT: graceful stop of master and worker.
      child.kill('SIGQUIT')
      await once(child, 'exit')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function startGateway(upstreamUrl: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort()
  const gateway = await startRole('gateway', port, {
    GATEWAY_PORT: String(port),
    GATEWAY_UPSTREAM_API: upstreamUrl,
    GATEWAY_POOL_MAX_CONNECTIONS: String(connections),
    GATEWAY_RATE_LIMIT_READ: '100000000/1s',
    REDIS_URL: '',
    LOG_LEVEL: 'warn',
  })
  return {
    url: gateway.url,
    stop: async () => {
      await gateway.stop()
    },
  }
}

function measure(url: string, seconds: number): Promise<LoadResult> {
  const headers = { authorization: `Bearer ${KEY}` }
  return runLoad({
    url,
    connections,
    durationMs: seconds * 1000,
    user: async (_index, send, running) => {
      while (running()) await send({ method: 'GET', path: PATH, headers })
    },
  })
}

function line(name: string, r: LoadResult): string {
  return `${name.padEnd(18)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors} ${JSON.stringify(r.statuses)}`
}

/** Sums requests and time over rounds; percentiles are the median of the rounds' percentiles. */
function combine(results: LoadResult[]): { rps: number; p50: number; p99: number; errors: number } {
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    const mid = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  }
  const requests = results.reduce((sum, r) => sum + r.requests, 0)
  const seconds = results.reduce((sum, r) => sum + r.seconds, 0)
  return {
    rps: requests / seconds,
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  }
}

const upstream = await startUpstream()
const upstreamPort = new URL(upstream.url).port
const results: Record<'direct' | 'nginx' | 'gateway', LoadResult[]> = { direct: [], nginx: [], gateway: [] }
try {
  await measure(upstream.url, 2)
  const direct = await measure(upstream.url, duration)
  results.direct.push(direct)
  console.log(line('upstream direct', direct))
  for (let round = 1; round <= rounds; round++) {
    // Each round is a back-to-back pair, in alternating order, so that load from elsewhere on the
    // machine drifts into both sides of a pair alike.
    const order = round % 2 === 1 ? (['nginx', 'gateway'] as const) : (['gateway', 'nginx'] as const)
    for (const name of order) {
      const proxy = name === 'nginx' ? await startNginx(upstreamPort) : await startGateway(upstream.url)
      try {
        await measure(proxy.url, 2) // warm-up: JIT, pools, keep-alive connections
        const result = await measure(proxy.url, duration)
        results[name].push(result)
        console.log(line(`${name} (round ${round})`, result))
      } finally {
        await proxy.stop()
      }
    }
  }
} finally {
  await upstream.stop()
}

const nginx = combine(results.nginx)
const gateway = combine(results.gateway)
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
const pairs = results.nginx.map((n, i) => ({ nginx: n, gateway: results.gateway[i] as LoadResult }))
const throughputs = pairs.map((pair) => pair.gateway.rps / pair.nginx.rps)
const tails = pairs.map((pair) => pair.gateway.p99 / pair.nginx.p99)
const throughput = median(throughputs)
const tail = median(tails)
console.log(
  `\nbench/gateway: GET ${PATH}, ${connections} connections, ${duration} s × ${rounds} rounds per proxy, one nginx worker vs one gateway process; load generator, upstream and proxy share this 2-core machine`,
)
console.log('| target | requests/s | p50 ms | p99 ms | errors |')
console.log('|---|---|---|---|---|')
const direct = combine(results.direct)
for (const [name, r] of [
  ['upstream direct', direct],
  ['nginx', nginx],
  ['payrail gateway', gateway],
] as const) {
  console.log(`| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} |`)
}
console.log(
  `per round, gateway / nginx: throughput ${throughputs.map((r) => `${(r * 100).toFixed(0)} %`).join(', ')}; p99 ${tails.map((r) => `${r.toFixed(2)}×`).join(', ')}`,
)
console.log(
  `gateway / nginx (median of rounds): throughput ${(throughput * 100).toFixed(0)} % (target ≥ 70 %: ${throughput >= 0.7 ? 'met' : 'MISSED'}), p99 ${tail.toFixed(2)}× (target ≤ 1.5×: ${tail <= 1.5 ? 'met' : 'MISSED'})`,
)
