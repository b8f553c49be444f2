// Listens with a backlog of 1 (0 would mean Node's default), reports its port, then blocks this thread's event loop until the
// test sets the shared flag, so that no connection is ever accepted (see startBlackhole).
import { once } from 'node:events'
import { createServer } from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'

const signal = (workerData as { signal: Int32Array }).signal
const server = createServer()
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 })
await once(server, 'listening')
const address = server.address()
if (address === null || typeof address === 'string') throw new Error('no address')
parentPort?.postMessage(address.port)
// Block at once: the loop must not get another turn, in which it would accept connections.
Atomics.wait(signal, 0, 0, 120_000)
server.close()
