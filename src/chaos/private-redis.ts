import { existsSync, mkdtempSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PayrailError } from '../domain/errors.ts'
import { withDeadline } from '../runtime/deadline.ts'
import { freePort } from '../runtime/ports.ts'
import {
  type PrivateServer,
  type PrivateServerOptions,
  ServerProcess,
  serverLifecycle,
} from './server-process.ts'

/**
 * A Redis server of its own on a spare 127.0.0.1 port, for `payrail chaos --full` and the tests
 * that kill Redis (the machine's shared one on 6379 is never touched). It keeps nothing on disk:
 * payrail's Redis holds rate-limit counters only, which a restart may lose, as a crash would.
 */

/** `url` is redis://127.0.0.1:port; `start()` resolves once it answers PING; `stop()` is SIGTERM. */
export type PrivateRedisServer = PrivateServer

export type PrivateRedisOptions = PrivateServerOptions

const REDIS_SERVER = '/usr/bin/redis-server'

/**
 * Whether Redis on `port` answers PING with PONG within a second. A raw inline command rather
 * than ioredis: a client that reconnects on its own would hide the refusals this waits through.
 */
export function redisAnswers(port: number): Promise<boolean> {
  const socket = connect({ host: '127.0.0.1', port })
  const reply = new Promise<boolean>((resolve) => {
    let text = ''
    socket.on('error', () => resolve(false))
    socket.on('close', () => resolve(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      text += chunk
      // "-LOADING …" while it reads a dump; not the case here, but not an answer either.
      if (text.includes('\r\n')) resolve(text.startsWith('+PONG'))
    })
  })
  return withDeadline(reply, 1000, () => false).finally(() => socket.destroy())
}

/** A private Redis, already answering; fails with DEPENDENCY_MISSING without redis-server. */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedisServer> {
  const say = options.say ?? (() => {})
  if (!existsSync(REDIS_SERVER))
    throw new PayrailError('DEPENDENCY_MISSING', `a private redis server needs ${REDIS_SERVER}`, {
      details: { missing: [REDIS_SERVER] },
    })
  const dir = mkdtempSync(join(tmpdir(), 'payrail-redis-'))
  const port = await freePort()
  const what = `the private redis server on port ${port}`
  const server = new ServerProcess(what, REDIS_SERVER, [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
  ])
  const lifecycle = serverLifecycle(server, {
    what,
    dir,
    answers: () => redisAnswers(port),
    startTimeoutMs: 30_000,
    stopSignal: 'SIGTERM',
    say,
  })

  try {
    await lifecycle.start()
  } catch (error) {
    await lifecycle.close()
    throw error
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    ...lifecycle,
  }
}
