import assert from 'node:assert/strict'
import { test } from 'node:test'
import { shutdownInOrder } from '../../src/observability/shutdown.ts'
import { quietLogger } from '../../support/logger.ts'

test('every shutdown step runs in order even when one fails, and the failure is reported by name', async () => {
  const ran: string[] = []
  await assert.rejects(
    shutdownInOrder(
      [
        ['server', async () => ran.push('server')],
        [
          'database',
          async () => {
            ran.push('database')
            throw new Error('gone')
          },
        ],
        ['producer', async () => ran.push('producer')],
        ['nothing to close', () => undefined],
      ],
      quietLogger(),
    ),
    /shutdown steps failed: database$/,
  )
  assert.deepEqual(ran, ['server', 'database', 'producer'])
})
