import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { withDeadline } from '../runtime/deadline.ts'
import { until } from '../runtime/until.ts'

/**
 * One state server (MariaDB, PostgreSQL, Redis) that a chaos run or a fault test owns: started
 * as many times as it is stopped or killed, with the same program and arguments, so a restart
 * finds the port and data directory a crash left behind.
 */

/** The user a server runs as, when not the caller's (PostgreSQL refuses to run as root). */
export interface ProcessOwner {
  uid: number
  gid: number
}

/**
 * The tail of the server's output kept for failure messages. A chaos run restarts a server many
 * times over minutes; one start logs ~2 KB (measured: MariaDB 1.8–1.9 KB, PostgreSQL 0.6–1.3 KB,
 * Redis 1 KB), so this keeps the last hundred or so.
 */
const LOG_LIMIT = 256 * 1024

export class ServerProcess {
  readonly #what: string
  readonly #program: string
  readonly #args: readonly string[]
  readonly #owner: ProcessOwner | undefined
  #child: ChildProcess | undefined
  #exited: Promise<unknown> = Promise.resolve()
  #output = ''
  #spawnFailed = false

  constructor(what: string, program: string, args: readonly string[], owner?: ProcessOwner) {
    this.#what = what
    this.#program = program
    this.#args = args
    this.#owner = owner
  }

  /** The server's process id while it runs. */
  pid(): number | undefined {
    return this.running() ? this.#child?.pid : undefined
  }

  running(): boolean {
    const child = this.#child
    return child !== undefined && !this.#spawnFailed && child.exitCode === null && child.signalCode === null
  }

  /** The server's output so far (its last 256 KiB), for failure messages. */
  log(): string {
    return this.#output
  }

  /** Starts the program; the caller waits for it to answer. */
  spawn(): void {
    if (this.running()) throw new Error(`${this.#what} already runs`)
    // Its own process group: a signal to the group reaches whatever the server runs in it, and
    // a Ctrl-C in the caller's terminal does not, so that the caller closes it in order.
    const child = spawn(this.#program, [...this.#args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...this.#owner,
    })
    const keep = (chunk: Buffer) => {
      this.#output += chunk
      if (this.#output.length > LOG_LIMIT) this.#output = this.#output.slice(-LOG_LIMIT)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    this.#spawnFailed = false
    // A program that cannot be started at all reports it here, and never exits.
    child.on('error', (error) => {
      this.#spawnFailed = true
      keep(Buffer.from(`\n${this.#what}: ${error.message}\n`))
    })
    this.#child = child
    this.#exited = once(child, 'exit').catch(() => undefined)
  }

  /**
   * `name` to the server's process group (SIGKILL to every process below the server as well);
   * resolves once the server exited (and, for SIGKILL, once every one of them is gone). A server that does not exit within `timeoutMs` of a
   * clean signal is killed, and the call fails saying so.
   */
  async signal(name: NodeJS.Signals, timeoutMs = 60_000): Promise<void> {
    const pid = this.#child?.pid
    if (!this.running() || pid === undefined) return
    // Listed before the signal: once the postmaster is dead, its backends belong to init.
    const tree = name === 'SIGKILL' ? descendants(pid) : []
    for (const target of [-pid, ...tree]) {
      try {
        process.kill(target, name)
      } catch {
        // Gone already.
      }
    }
    const inTime = await withDeadline(
      this.#exited.then(() => true),
      timeoutMs,
      () => false,
    )
    if (!inTime) {
      await this.signal('SIGKILL')
      throw new Error(
        `${this.#what} did not exit within ${timeoutMs} ms of ${name}; killed it:\n${this.log()}`,
      )
    }
    if (name === 'SIGKILL') {
      // A restart needs them all gone: PostgreSQL refuses to start while a backend of the old
      // postmaster still holds its shared memory.
      await until(
        `the processes of the killed ${this.#what} to exit`,
        () => !groupAlive(pid) && tree.every(gone),
        { timeoutMs: 30_000 },
      )
    }
  }
}

/**
 * Every process below `pid`, from Linux's /proc (none elsewhere). Needed because a signal to the
 * server's process group misses PostgreSQL's backends: each calls setsid() and leads a group of
 * its own, so a killed postmaster left them serving their open connections (seen in
 * test/chaos/private-servers.test.ts) and holding the shared memory a restart needs.
 */
function descendants(pid: number): number[] {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  const children = new Map<number, number[]>()
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const parent = parentOf(Number(entry))
    if (parent === undefined) continue
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)])
  }
  const found: number[] = []
  const queue = [pid]
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

/** The state letter and parent of a process from /proc/<pid>/stat; undefined once it is gone. */
function statOf(pid: number): { state: string; parent: number } | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
  const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { state: state ?? '', parent: Number(parent) }
}

function parentOf(pid: number): number | undefined {
  return statOf(pid)?.parent
}

/** A process that exited is gone even while it waits, a zombie, for its new parent to reap it. */
function gone(pid: number): boolean {
  const stat = statOf(pid)
  return stat === undefined || stat.state === 'Z'
}

/** Whether any process of the group still exists (signal 0 checks without sending). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/** A server a chaos scenario owns on a spare port: started, stopped, killed and started again. */
export interface PrivateServer {
  port: number
  url: string
  /** Its temporary folder; deleted by close(). */
  dir: string
  /** Starts the server again on the same port (and data); resolves once it answers. */
  start: () => Promise<void>
  /** A clean shutdown; resolves once it exited. */
  stop: () => Promise<void>
  /** SIGKILL to the server and every process it started; resolves once they are gone. */
  kill: () => Promise<void>
  running: () => boolean
  /** The server's process id while it runs (its CPU time is read from /proc by benchmarks). */
  pid: () => number | undefined
  /** The server's log so far, for failure messages. */
  log: () => string
  /** Kills the server and deletes its folder; a second call does nothing. */
  close: () => Promise<void>
}

export interface PrivateServerOptions {
  /** Where progress lines go (started, stopped, killed). Default: nowhere. */
  say?: (line: string) => void
}

/**
 * The lifecycle both private servers share around their ServerProcess: `start` spawns and waits
 * until `answers` (failing at once if the process exits), `stop` and `kill` signal it, `close`
 * kills it and deletes `dir`. The server's own parts (port, url, first start) stay with it.
 */
export function serverLifecycle(
  server: ServerProcess,
  spec: {
    what: string
    dir: string
    answers: () => Promise<boolean>
    startTimeoutMs: number
    stopSignal: NodeJS.Signals
    say: (line: string) => void
  },
): Pick<PrivateServer, 'start' | 'stop' | 'kill' | 'running' | 'pid' | 'log' | 'close'> {
  const { what, say } = spec
  let closed = false
  const signalled = (signal: NodeJS.Signals, done: string) => async () => {
    if (!server.running()) return
    await server.signal(signal)
    say(`${what} ${done}`)
  }
  return {
    start: async () => {
      if (closed) throw new Error(`${what} is closed`)
      const began = Date.now()
      server.spawn()
      await until(
        `${what} to answer`,
        async () => {
          if (!server.running()) throw new Error(`${what} exited:\n${server.log()}`)
          return spec.answers()
        },
        { timeoutMs: spec.startTimeoutMs, intervalMs: 20 },
      )
      say(`${what} answers after ${Date.now() - began} ms`)
    },
    stop: signalled(spec.stopSignal, 'stopped'),
    kill: signalled('SIGKILL', 'killed'),
    running: () => server.running(),
    pid: () => server.pid(),
    log: () => server.log(),
    close: async () => {
      if (closed) return
      closed = true
      try {
        await server.signal('SIGKILL')
      } finally {
        rmSync(spec.dir, { recursive: true, force: true })
      }
    },
  }
}
