import { execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { PayrailError } from '../domain/errors.ts'
import { freePort } from '../runtime/ports.ts'
import {
  type PrivateServer,
  type PrivateServerOptions,
  type ProcessOwner,
  ServerProcess,
  serverLifecycle,
} from './server-process.ts'

/**
 * A MariaDB or PostgreSQL server of its own, on a spare port with a temporary data directory,
 * for `payrail chaos --full` and the fault tests that stop or kill the database (the machine's
 * shared servers are never touched).
 */

export type ServerDialect = 'mysql' | 'postgres'

/** The server's `url` names its database `payrail`; `stop()` is MariaDB's SIGTERM, PostgreSQL's SIGINT (fast shutdown). */
export interface PrivateDatabaseServer extends PrivateServer {
  dialect: ServerDialect
}

export type PrivateDatabaseOptions = PrivateServerOptions

const BINARIES: Record<ServerDialect, string[]> = {
  mysql: ['/usr/bin/mariadb-install-db', '/usr/sbin/mariadbd'],
  postgres: ['/usr/local/bin/initdb', '/usr/local/bin/postgres'],
}

/** The programs a private server of `dialect` needs that this machine lacks (their paths). */
export function missingDatabasePrograms(dialect: ServerDialect): string[] {
  return BINARIES[dialect].filter((path) => !existsSync(path))
}

/** PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user. */
function postgresUser(): ProcessOwner | undefined {
  if (process.getuid?.() !== 0) return undefined
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
  return { uid, gid }
}

function serverArgs(dialect: ServerDialect, dir: string, port: number): string[] {
  if (dialect === 'mysql')
    return [
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
    ]
  return [
    '-D',
    join(dir, 'data'),
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dir}`,
    // fsync=off loses nothing a kill -9 of the server alone could lose (the OS still has the
    // writes); only a crash of the machine would.
    '-c',
    'fsync=off',
    '-c',
    'shared_buffers=32MB',
  ]
}

function initialize(dialect: ServerDialect, dir: string, owner: ProcessOwner | undefined): void {
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

/** Whether the server accepts a connection; any failure means "not yet". */
async function answers(dialect: ServerDialect, serverUrl: string): Promise<boolean> {
  try {
    if (dialect === 'mysql') {
      const connection = await mysql.createConnection({ uri: serverUrl, connectTimeout: 1000 })
      await connection.end()
    } else {
      const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 1000 })
      // A refused or reset connection is also emitted here; connect() rejects with it.
      client.on('error', () => {})
      await client.connect()
      await client.end()
    }
    return true
  } catch {
    return false
  }
}

async function createPayrailDatabase(dialect: ServerDialect, serverUrl: string): Promise<void> {
  if (dialect === 'mysql') {
    const connection = await mysql.createConnection({ uri: serverUrl })
    try {
      await connection.query('CREATE DATABASE payrail')
    } finally {
      await connection.end()
    }
  } else {
    const client = new pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      await client.query('CREATE DATABASE payrail')
    } finally {
      await client.end()
    }
  }
}

/**
 * A private server of `dialect`, already running, with a database `payrail`. Fails with
 * DEPENDENCY_MISSING when the server programs are missing; the caller closes it.
 */
export async function startPrivateDatabase(
  dialect: ServerDialect,
  options: PrivateDatabaseOptions = {},
): Promise<PrivateDatabaseServer> {
  const say = options.say ?? (() => {})
  const missing = missingDatabasePrograms(dialect)
  if (missing.length > 0)
    throw new PayrailError('DEPENDENCY_MISSING', `a private ${dialect} server needs ${missing.join(', ')}`, {
      details: { missing },
    })
  const dir = mkdtempSync(join(tmpdir(), `payrail-${dialect}-`))
  const port = await freePort()
  const what = `the private ${dialect} server on port ${port}`
  const owner = dialect === 'postgres' ? postgresUser() : undefined
  if (owner !== undefined) chownSync(dir, owner.uid, owner.gid)
  const server = new ServerProcess(
    what,
    dialect === 'mysql' ? '/usr/sbin/mariadbd' : '/usr/local/bin/postgres',
    serverArgs(dialect, dir, port),
    owner,
  )
  const serverUrl =
    dialect === 'mysql' ? `mysql://root@127.0.0.1:${port}` : `postgres://postgres@127.0.0.1:${port}/postgres`
  const url =
    dialect === 'mysql'
      ? `mysql://root@127.0.0.1:${port}/payrail`
      : `postgres://postgres@127.0.0.1:${port}/payrail`
  const lifecycle = serverLifecycle(server, {
    what,
    dir,
    answers: () => answers(dialect, serverUrl),
    startTimeoutMs: 60_000,
    // PostgreSQL's SIGINT is its fast shutdown (sessions end with 57P01); SIGTERM would wait
    // for every session to end, which a pooled client never does.
    stopSignal: dialect === 'postgres' ? 'SIGINT' : 'SIGTERM',
    say,
  })

  try {
    initialize(dialect, dir, owner)
    await lifecycle.start()
    await createPayrailDatabase(dialect, serverUrl)
  } catch (error) {
    await lifecycle.close()
    throw error
  }
  return {
    dialect,
    port,
    url,
    dir,
    ...lifecycle,
  }
}
