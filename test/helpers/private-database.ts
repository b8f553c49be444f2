import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { type DatabaseHandle, openDatabase } from '../../src/db/database.ts'
import { freePort } from '../../support/processes.ts'
import type { ThrowawayDatabase } from './databases.ts'
import { until } from './until.ts'

export type ServerDialect = 'mysql' | 'postgres'

/**
 * A MariaDB or PostgreSQL server of the test's own, on a spare port with a temporary data
 * directory, for fault tests that stop or kill the database (the machine's shared servers are
 * never touched). It is a ThrowawayDatabase too: `url` names a database `payrail` on it, and the
 * users registered with `beforeClose` stop before the server is killed and its folder deleted.
 */
export interface PrivateDatabase extends ThrowawayDatabase {
  dialect: ServerDialect
  port: number
  /** Starts the server again on the same port and data directory; resolves once it accepts queries. */
  start: () => Promise<void>
  /** A clean shutdown (SIGTERM, PostgreSQL's smart/fast shutdown); resolves once it exited. */
  stop: () => Promise<void>
  /** SIGKILL to the server and every process it started; resolves once they are gone. */
  kill: () => Promise<void>
  running: () => boolean
  /** The server's log so far, for failure messages. */
  log: () => string
}

const BINARIES: Record<ServerDialect, string[]> = {
  mysql: ['/usr/bin/mariadb-install-db', '/usr/sbin/mariadbd'],
  postgres: ['/usr/local/bin/initdb', '/usr/local/bin/postgres'],
}

/** PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
  return { uid, gid }
}

/**
 * A private server of `dialect`, already running, with a database `payrail`; killed and deleted
 * when the test ends. Skips the test (fails it under CI) when the server programs are missing.
 */
export async function privateDatabase(
  t: TestContext,
  dialect: ServerDialect,
): Promise<PrivateDatabase | undefined> {
  const missing = BINARIES[dialect].filter((path) => !existsSync(path))
  if (missing.length > 0) {
    const message = `a private ${dialect} server needs ${missing.join(', ')}`
    if (process.env.CI === 'true') throw new Error(message)
    t.skip(message)
    return undefined
  }
  const dir = mkdtempSync(join(tmpdir(), `payrail-${dialect}-`))
  const port = await freePort()
  const handles: DatabaseHandle[] = []
  const users: (() => Promise<void>)[] = []
  let child: ChildProcess | undefined
  let exited: Promise<unknown> = Promise.resolve()
  let output = ''
  const owner = dialect === 'postgres' ? postgresUser() : undefined
  if (owner !== undefined) chownSync(dir, owner.uid, owner.gid)

  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null
  const serverUrl =
    dialect === 'mysql' ? `mysql://root@127.0.0.1:${port}` : `postgres://postgres@127.0.0.1:${port}/postgres`
  const databaseUrl =
    dialect === 'mysql'
      ? `mysql://root@127.0.0.1:${port}/payrail`
      : `postgres://postgres@127.0.0.1:${port}/payrail`

  const answers = async (): Promise<boolean> => {
    try {
      if (dialect === 'mysql') {
        const connection = await mysql.createConnection({ uri: serverUrl, connectTimeout: 1000 })
        await connection.end()
      } else {
        const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 1000 })
        client.on('error', () => {})
        await client.connect()
        await client.end()
      }
      return true
    } catch {
      return false
    }
  }

  const start = async () => {
    if (alive()) throw new Error(`the private ${dialect} server already runs`)
    const [program, args] =
      dialect === 'mysql'
        ? [
            '/usr/sbin/mariadbd',
            [
              '--no-defaults',
              `--datadir=${join(dir, 'data')}`,
              `--port=${port}`,
              '--bind-address=127.0.0.1',
              `--socket=${join(dir, 'mysqld.sock')}`,
              `--pid-file=${join(dir, 'mysqld.pid')}`,
              '--skip-grant-tables',
              '--skip-name-resolve',
              '--innodb-buffer-pool-size=64M',
              ...(process.getuid?.() === 0 ? ['--user=root'] : []),
            ],
          ]
        : [
            '/usr/local/bin/postgres',
            [
              '-D',
              join(dir, 'data'),
              '-p',
              String(port),
              '-c',
              'listen_addresses=127.0.0.1',
              '-c',
              `unix_socket_directories=${dir}`,
              '-c',
              'fsync=off',
              '-c',
              'shared_buffers=32MB',
            ],
          ]
    // Its own process group, so that kill() reaches PostgreSQL's backends too, as a crash would.
    const started = spawn(program, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...owner })
    started.stdout?.on('data', (chunk) => {
      output += chunk
    })
    started.stderr?.on('data', (chunk) => {
      output += chunk
    })
    child = started
    exited = once(started, 'exit')
    await until(
      `the private ${dialect} server on port ${port} to accept connections`,
      async () => {
        if (!alive()) throw new Error(`the private ${dialect} server exited:\n${output}`)
        return answers()
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    )
  }

  const signal = async (name: NodeJS.Signals) => {
    if (!alive() || child?.pid === undefined) return
    try {
      process.kill(-child.pid, name)
    } catch {
      // The group is gone already.
    }
    await exited
    if (name === 'SIGKILL' && dialect === 'postgres') {
      // Backends of the killed postmaster notice within a moment; a restart needs them gone.
      await until('the killed PostgreSQL backends to exit', () => !groupAlive(child?.pid as number), {
        timeoutMs: 30_000,
      })
    }
  }

  const initialize = () => {
    if (dialect === 'mysql') {
      execFileSync(
        '/usr/bin/mariadb-install-db',
        [
          '--no-defaults',
          `--datadir=${join(dir, 'data')}`,
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          ...(process.getuid?.() === 0 ? ['--user=root'] : []),
        ],
        { stdio: 'pipe' },
      )
    } else {
      execFileSync(
        '/usr/local/bin/initdb',
        ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'],
        { stdio: 'pipe', ...owner },
      )
    }
  }

  t.after(async () => {
    for (const stop of users.reverse()) await stop()
    for (const handle of handles) await handle.close().catch(() => {})
    await signal('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  initialize()
  await start()
  if (dialect === 'mysql') {
    const connection = await mysql.createConnection({ uri: serverUrl })
    await connection.query('CREATE DATABASE payrail')
    await connection.end()
  } else {
    const client = new pg.Client({ connectionString: serverUrl })
    await client.connect()
    await client.query('CREATE DATABASE payrail')
    await client.end()
  }

  return {
    dialect,
    port,
    url: databaseUrl,
    open: (poolMax = 2) => {
      const handle = openDatabase({ url: databaseUrl, poolMax, onIdleConnectionError: () => {} })
      handles.push(handle)
      return handle
    },
    beforeClose: (stop) => users.push(stop),
    start,
    stop: () => signal(dialect === 'postgres' ? 'SIGINT' : 'SIGTERM'),
    kill: () => signal('SIGKILL'),
    running: alive,
    log: () => output,
  }
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
