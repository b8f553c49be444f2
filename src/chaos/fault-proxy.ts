/**
 * A TCP fault proxy on 127.0.0.1 for `payrail chaos --full`: one listening port in front of one
 * role, forwarding every connection to it, with a fault switchable at run time (latency,
 * blackhole, reset, refuse) so that the roles see real network faults between them.
 *
 * Written here rather than taken from npm: no npm library does this well (faults switchable on
 * live connections, chunk order kept under jitter, RST through resetAndDestroy, the same port
 * refused and listened on again), and payrail takes no new dependencies for it.
 */

import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { Type } from 'typebox'
import { callable, nonEmptyText, resolveOptions, wholeNumber } from '../runtime/options.ts'

export type Fault =
  /** Pass-through. */
  | { kind: 'none' }
  /** Each chunk, each direction, held `ms` plus up to `jitterMs` (uniform); order is kept per direction. */
  | { kind: 'latency'; ms: number; jitterMs?: number }
  /** Accepted, nothing forwarded either way; what was sent is held and flows again after the fault. */
  | { kind: 'blackhole' }
  /** Every connection, existing and new, ended with an RST. */
  | { kind: 'reset' }
  /** Nothing listens (connection refused); existing connections stay as they are (`reset` drops them). */
  | { kind: 'refuse' }

export interface FaultProxyOptions {
  /** Where every connection is forwarded. Required. */
  target: { host: string; port: number }
  /** Port to listen on (127.0.0.1); 0 lets the OS pick a spare one, kept across `refuse`. Default: 0. */
  listenPort?: number
  /** The fault from the start. Default: `{ kind: 'none' }`. */
  fault?: Fault
  /** Numbers in [0, 1) for latency jitter, one per chunk. Default: `Math.random`. */
  random?: () => number
  /** Milliseconds clock that latency is measured on. Default: `performance.now`. */
  now?: () => number
  /** Calls `callback` after `ms`; returns what cancels it. Default: `setTimeout` / `clearTimeout`. */
  setTimer?: (callback: () => void, ms: number) => () => void
  /** Bytes held per connection and direction before reading from the sender pauses. Default: 1048576. */
  maxQueuedBytes?: number
}

/** Counters since start; numbers only, so a long chaos run keeps a constant size. */
export interface FaultProxyStats {
  connectionsAccepted: number
  connectionsActive: number
  /** Connections ended with an RST by the `reset` fault (existing ones and new ones). */
  connectionsReset: number
  /** Connections whose target could not be reached or failed; their client got an RST. */
  targetFailures: number
  bytesToTarget: number
  bytesToClient: number
}

type Resolved = Required<FaultProxyOptions>

const COMPONENT = 'fault proxy'
const HOST = '127.0.0.1'

export const defaultFaultProxyOptions: Omit<Resolved, 'target'> = {
  listenPort: 0,
  fault: { kind: 'none' },
  random: Math.random,
  now: () => performance.now(),
  setTimer: (callback, ms) => {
    const timer = setTimeout(callback, ms)
    return () => clearTimeout(timer)
  },
  // A connection under latency L carries at most maxQueuedBytes per L each way: 1 MiB at 100 ms
  // is 10 MiB/s, far above a role's traffic, while 1000 connections stay within 2 GiB at worst.
  maxQueuedBytes: 1_048_576,
}

const faultSchema = Type.Union(
  [
    Type.Object({ kind: Type.Literal('none') }),
    Type.Object({
      kind: Type.Literal('latency'),
      ms: Type.Integer({ minimum: 0 }),
      jitterMs: Type.Optional(Type.Integer({ minimum: 0 })),
    }),
    Type.Object({ kind: Type.Literal('blackhole') }),
    Type.Object({ kind: Type.Literal('reset') }),
    Type.Object({ kind: Type.Literal('refuse') }),
  ],
  { problem: 'must be none, latency (ms, jitterMs: whole numbers >= 0), blackhole, reset or refuse' },
)

const schema = Type.Object({
  target: Type.Object(
    { host: nonEmptyText(), port: wholeNumber(1, 65535) },
    { problem: 'must be { host, port } with a port from 1 to 65535' },
  ),
  listenPort: wholeNumber(0, 65535),
  fault: faultSchema,
  random: callable(),
  now: callable(),
  setTimer: callable(),
  maxQueuedBytes: wholeNumber(1),
})

/** A fault checked like an option, so that a typo in a chaos schedule fails with CONFIG_INVALID. */
const faultOnly = Type.Object({ fault: faultSchema })

function checkedFault(fault: Fault): Fault {
  return resolveOptions(COMPONENT, faultOnly, { fault }, {}).fault
}

/** RST and destroy; a socket already gone is left alone. */
function reset(socket: Socket | undefined): void {
  if (socket !== undefined && !socket.destroyed) socket.resetAndDestroy()
}

/** The proxy's part a connection reads: the fault in force, the clock, counters. */
interface ProxyState {
  readonly options: Resolved
  readonly stats: FaultProxyStats
  fault(): Fault
}

/** A chunk (or, `null`, the sender's end) waiting to be forwarded. */
interface Item {
  chunk: Buffer | null
  arrivedAt: number
  /** The chunk's draw in [0, 1) of the jitter, so a change of fault re-times it consistently. */
  jitter: number
}

/**
 * One direction of a connection. Every chunk goes through its queue, also without a fault (then
 * it leaves at once): one path for all faults, the queue's bound is the backpressure, and only
 * the head waits on a timer, so chunks leave in the order they came whatever their jitter.
 */
class Pipe {
  readonly #queue: Item[] = []
  #queuedBytes = 0
  #cancelTimer: (() => void) | undefined
  #waitingDrain = false
  #pausedSource = false
  #source: Socket | undefined
  /** Once the queue is empty, end the destination and destroy it when written (its peer is gone). */
  #closeWhenFlushed = false
  #closing = false
  readonly proxy: ProxyState
  readonly destination: () => Socket | undefined
  readonly toTarget: boolean

  constructor(proxy: ProxyState, destination: () => Socket | undefined, toTarget: boolean) {
    this.proxy = proxy
    this.destination = destination
    this.toTarget = toTarget
  }

  attach(source: Socket): void {
    this.#source = source
    source.on('data', (chunk: Buffer) => this.#enqueue(chunk))
    source.on('end', () => this.#enqueue(null))
  }

  get empty(): boolean {
    return this.#queue.length === 0
  }

  #enqueue(chunk: Buffer | null): void {
    const jitter = this.proxy.fault().kind === 'latency' ? this.proxy.options.random() : 0
    this.#queue.push({ chunk, arrivedAt: this.proxy.options.now(), jitter })
    if (chunk !== null) this.#queuedBytes += chunk.length
    if (this.#queuedBytes > this.proxy.options.maxQueuedBytes && !this.#pausedSource) {
      this.#pausedSource = true
      this.#source?.pause()
    }
    this.pump()
  }

  /** The fault changed (or the destination appeared): forget the wait and look again. */
  retime(): void {
    this.#cancelTimer?.()
    this.#cancelTimer = undefined
    this.pump()
  }

  closeWhenFlushed(): void {
    this.#closeWhenFlushed = true
    this.pump()
  }

  /** Drops what waits (its destination is gone) and stops the timer. */
  discard(): void {
    this.#cancelTimer?.()
    this.#cancelTimer = undefined
    this.#queue.length = 0
    this.#queuedBytes = 0
  }

  pump(): void {
    if (this.#cancelTimer !== undefined || this.#waitingDrain) return
    const to = this.destination()
    const fault = this.proxy.fault()
    if (to === undefined || fault.kind === 'blackhole') return
    if (to.destroyed) {
      this.discard()
      return
    }
    if (to.writableEnded) this.discard()
    for (let head = this.#queue[0]; head !== undefined; head = this.#queue[0]) {
      const delay = fault.kind === 'latency' ? fault.ms + (fault.jitterMs ?? 0) * head.jitter : 0
      const wait = head.arrivedAt + delay - this.proxy.options.now()
      if (wait > 0) {
        this.#cancelTimer = this.proxy.options.setTimer(() => {
          this.#cancelTimer = undefined
          this.pump()
        }, Math.ceil(wait))
        return
      }
      this.#queue.shift()
      if (head.chunk === null) {
        to.end()
        continue
      }
      this.#queuedBytes -= head.chunk.length
      if (this.toTarget) this.proxy.stats.bytesToTarget += head.chunk.length
      else this.proxy.stats.bytesToClient += head.chunk.length
      if (!to.write(head.chunk)) {
        this.#waitingDrain = true
        to.once('drain', () => {
          this.#waitingDrain = false
          this.pump()
        })
        break
      }
    }
    if (this.#pausedSource && this.#queuedBytes <= this.proxy.options.maxQueuedBytes / 2) {
      this.#pausedSource = false
      this.#source?.resume()
    }
    if (this.#closeWhenFlushed && !this.#closing && this.#queue.length === 0 && !this.#waitingDrain) {
      this.#closing = true
      if (to.writableFinished) to.destroy()
      else if (to.writableEnded) to.once('finish', () => to.destroy())
      else to.end(() => to.destroy())
    }
  }
}

/** One client connection and its connection to the target. */
class Link {
  readonly client: Socket
  upstream: Socket | undefined
  readonly #toTarget: Pipe
  readonly #toClient: Pipe
  #done = false
  readonly proxy: ProxyState
  readonly onDone: (link: Link) => void
  /** Settles once both sockets are closed and the link has left the proxy. */
  readonly closed: Promise<void>
  readonly #settle: () => void

  constructor(proxy: ProxyState, client: Socket, onDone: (link: Link) => void) {
    this.proxy = proxy
    this.onDone = onDone
    const { promise, resolve } = Promise.withResolvers<void>()
    this.closed = promise
    this.#settle = resolve
    this.client = client
    this.#toTarget = new Pipe(proxy, () => this.upstream, true)
    this.#toClient = new Pipe(proxy, () => this.client, false)
    this.#toTarget.attach(client)
    client.on('error', () => reset(this.upstream))
    client.on('close', (hadError) => this.#closed(client, hadError))
  }

  /**
   * Connects to the target unless the fault holds everything: a connection accepted during a
   * blackhole reaches the target only once the partition heals, as its SYN would.
   */
  connectWhenPassable(): void {
    if (this.upstream !== undefined || this.#done || this.proxy.fault().kind === 'blackhole') return
    const { host, port } = this.proxy.options.target
    const upstream = tcpConnect({ host, port, allowHalfOpen: true })
    this.upstream = upstream
    this.#toClient.attach(upstream)
    upstream.on('error', () => {
      this.proxy.stats.targetFailures += 1
      reset(this.client)
    })
    upstream.on('close', (hadError) => this.#closed(upstream, hadError))
    this.#toTarget.pump()
  }

  retime(): void {
    this.connectWhenPassable()
    this.#toTarget.retime()
    this.#toClient.retime()
  }

  reset(): void {
    reset(this.client)
    reset(this.upstream)
  }

  destroy(): void {
    this.client.destroy()
    this.upstream?.destroy()
  }

  #closed(socket: Socket, hadError: boolean): void {
    const other = socket === this.client ? this.upstream : this.client
    const from = socket === this.client ? this.#toTarget : this.#toClient
    const towards = socket === this.client ? this.#toClient : this.#toTarget
    towards.discard()
    if (hadError) reset(other)
    else if (other !== undefined && !other.destroyed) from.closeWhenFlushed()
    if (this.client.destroyed && (this.upstream === undefined || this.upstream.destroyed)) {
      if (this.#done) return
      this.#done = true
      this.#toTarget.discard()
      this.#toClient.discard()
      this.onDone(this)
      this.#settle()
    }
  }
}

/**
 * The proxy. `setFault` applies at once to new connections and to existing ones: latency re-times
 * what waits, blackhole holds it, reset sends RSTs, refuse closes the listener (and a later fault
 * listens again on the same port); its promise settles when the listener is in the new state.
 */
export class FaultProxy {
  readonly #options: Resolved
  #fault: Fault
  readonly #stats: FaultProxyStats = {
    connectionsAccepted: 0,
    connectionsActive: 0,
    connectionsReset: 0,
    targetFailures: 0,
    bytesToTarget: 0,
    bytesToClient: 0,
  }
  readonly #links = new Set<Link>()
  readonly #state: ProxyState
  /** The listening server, if any; a closed one stays in #closing until its connections are gone. */
  #server: Server | undefined
  readonly #closing = new Set<Promise<void>>()
  #port: number | undefined
  #stopped = false
  /** Listener changes, one after another, so that quick switches end in the last fault's state. */
  #transition: Promise<void> = Promise.resolve()

  constructor(options: FaultProxyOptions) {
    this.#options = resolveOptions<Resolved>(
      COMPONENT,
      schema,
      { ...defaultFaultProxyOptions, target: options.target },
      options,
    )
    this.#fault = this.#options.fault
    this.#state = { options: this.#options, stats: this.#stats, fault: () => this.#fault }
  }

  /** The port listened on, once started. */
  get port(): number | undefined {
    return this.#port
  }

  get fault(): Fault {
    return this.#fault
  }

  /** Listens on 127.0.0.1 and resolves the port (also under `refuse`: the port is kept, then closed). */
  async start(): Promise<number> {
    if (this.#port !== undefined || this.#stopped) throw new Error('fault proxy: start() may be called once')
    const port = await this.#listen(this.#options.listenPort)
    this.#port = port
    if (this.#fault.kind === 'refuse') this.#stopListening()
    return port
  }

  setFault(fault: Fault): Promise<void> {
    this.#fault = checkedFault(fault)
    if (fault.kind === 'reset') {
      for (const link of this.#links) {
        this.#stats.connectionsReset += 1
        link.reset()
      }
    } else {
      for (const link of this.#links) link.retime()
    }
    const step = this.#transition.then(() => this.#syncListener())
    // The caller gets the failure from `step`; the chain only has to go on after it.
    this.#transition = step.catch(() => {})
    return step
  }

  stats(): FaultProxyStats {
    return { ...this.#stats, connectionsActive: this.#links.size }
  }

  /** Closes the listener, destroys every connection and resolves once all their sockets are closed. */
  async close(): Promise<void> {
    this.#stopped = true
    await this.#transition
    this.#stopListening()
    const links = [...this.#links]
    for (const link of links) link.destroy()
    await Promise.all([...this.#closing, ...links.map((link) => link.closed)])
  }

  async #syncListener(): Promise<void> {
    if (this.#port === undefined || this.#stopped) return
    if (this.#fault.kind === 'refuse') this.#stopListening()
    else if (this.#server === undefined) await this.#listen(this.#port)
  }

  async #listen(port: number): Promise<number> {
    const server = createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, HOST, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.#server = server
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('fault proxy: no TCP address')
    return address.port
  }

  /** Stops accepting at once; the server's close completes when its last connection is gone. */
  #stopListening(): void {
    const server = this.#server
    if (server === undefined) return
    this.#server = undefined
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    this.#closing.add(closed)
    void closed.then(() => this.#closing.delete(closed))
  }

  #accept(socket: Socket): void {
    this.#stats.connectionsAccepted += 1
    if (this.#stopped) {
      socket.destroy()
      return
    }
    if (this.#fault.kind === 'reset') {
      this.#stats.connectionsReset += 1
      socket.resetAndDestroy()
      return
    }
    const link = new Link(this.#state, socket, (done) => this.#links.delete(done))
    this.#links.add(link)
    link.connectWhenPassable()
  }
}
