import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { verifySignature } from '../../src/webhooks/signing.ts'

/** What a path of the receiver does with a request: the n-th (from 1) for its event id. */
export type Behaviour = (n: number) => 'ok' | 'fail' | 'hang' | { slowMs: number }

export interface Received {
  path: string
  eventId: string
  type: string
  paymentId: string
  sequence: number
  verified: boolean
  /** The n-th request for this event id on this path. */
  n: number
  at: number
}

/**
 * A merchant's webhook receiver on loopback: verifies each request's signature with the secret
 * of its path, records it, and answers as the path's behaviour says (default: 200 at once).
 */
export async function webhookReceiver() {
  const secrets = new Map<string, string>()
  const behaviours = new Map<string, Behaviour>()
  const received: Received[] = []
  const hanging = new Set<ServerResponse>()
  const seen = new Map<string, number>()
  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    const path = request.url ?? '/'
    const parsed = JSON.parse(body) as {
      id: string
      type: string
      sequence: number
      data: { payment: { id: string } }
    }
    const key = `${path} ${parsed.id}`
    const n = (seen.get(key) ?? 0) + 1
    seen.set(key, n)
    const header = request.headers['payrail-signature']
    received.push({
      path,
      eventId: parsed.id,
      type: parsed.type,
      paymentId: parsed.data.payment.id,
      sequence: parsed.sequence,
      verified:
        request.headers['payrail-event-id'] === parsed.id &&
        verifySignature(
          Array.isArray(header) ? header[0] : header,
          body,
          secrets.get(path) ?? '',
          Math.floor(Date.now() / 1000),
        ),
      n,
      at: Date.now(),
    })
    const behaviour = behaviours.get(path)?.(n) ?? 'ok'
    if (behaviour === 'hang') {
      hanging.add(response)
      return
    }
    if (typeof behaviour === 'object') await new Promise((resolve) => setTimeout(resolve, behaviour.slowMs))
    response.writeHead(behaviour === 'fail' ? 500 : 204).end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    secrets,
    behaviours,
    received,
    on: (path: string) => received.filter((r) => r.path === path),
    close: async () => {
      for (const response of hanging) response.destroy()
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}
