/**
 * The benchmark's upstream: a tiny HTTP server with one fixed answer (the size of a payment
 * read), so that the proxies in front of it are what is measured. Run as its own process:
 *   node bench/gateway/upstream.ts <port>
 */
import { createServer } from 'node:http'

const port = Number(process.argv[2])
const body = Buffer.from(
  JSON.stringify({
    paymentId: 'pay_bench',
    status: 'AUTHORIZED',
    amount: 15000,
    currency: 'KRW',
    capturedAmount: 0,
    refundedAmount: 0,
  }),
)
const server = createServer((request, response) => {
  if (request.url === '/readyz' || request.url === '/healthz') {
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}')
    return
  }
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body)
})
// Keep connections open as long as the proxies do, so neither pays for reconnects.
server.keepAliveTimeout = 120_000
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
