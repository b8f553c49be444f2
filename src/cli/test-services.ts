import { connect } from 'node:net'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { probeCluster } from '../kafka/connection.ts'

/** The real servers the test suite talks to. Each URL can be overridden by its variable. */
export const testServices = {
  kafka: { variable: 'KAFKA_BROKERS', fallback: '127.0.0.1:9092', label: 'Kafka' },
  mysql: { variable: 'PAYRAIL_TEST_MYSQL_URL', fallback: 'mysql://root@127.0.0.1:3306', label: 'MariaDB' },
  postgres: {
    variable: 'PAYRAIL_TEST_POSTGRES_URL',
    fallback: 'postgres://postgres@127.0.0.1:5432/postgres',
    label: 'PostgreSQL',
  },
  redis: { variable: 'PAYRAIL_TEST_REDIS_URL', fallback: 'redis://127.0.0.1:6379', label: 'Redis' },
} as const

export type TestService = keyof typeof testServices

export function testServiceUrl(service: TestService, env: NodeJS.ProcessEnv = process.env): string {
  const { variable, fallback } = testServices[service]
  const value = env[variable]
  return value === undefined || value === '' ? fallback : value
}

async function probeRedis(url: string, timeoutMs: number): Promise<void> {
  const { hostname, port } = new URL(url)
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port || 6379), timeout: timeoutMs })
    let reply = ''
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      if (!reply.includes('\r\n')) return
      socket.end()
      // A server that asks for a password still answers, which proves it is there.
      if (reply.startsWith('+PONG') || reply.startsWith('-NOAUTH')) resolve()
      else reject(new Error(`unexpected reply ${JSON.stringify(reply.trim())}`))
    })
    socket.on('timeout', () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    socket.on('error', reject)
  })
}

/** Resolves when the service answers, rejects with the reason otherwise. */
export async function probeTestService(service: TestService, timeoutMs = 3000): Promise<void> {
  const url = testServiceUrl(service)
  switch (service) {
    case 'kafka':
      await probeCluster({ brokers: url.split(','), clientId: 'payrail-test-probe', timeoutMs })
      return
    case 'mysql': {
      const connection = await mysql.createConnection({ uri: url, connectTimeout: timeoutMs })
      try {
        await connection.query('select 1')
      } finally {
        await connection.end()
      }
      return
    }
    case 'postgres': {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs })
      await client.connect()
      try {
        await client.query('select 1')
      } finally {
        await client.end()
      }
      return
    }
    case 'redis':
      await probeRedis(url, timeoutMs)
      return
  }
}
