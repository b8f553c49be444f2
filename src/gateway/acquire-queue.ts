import { PayrailError } from '../domain/errors.ts'
import { WaitQueue, type WaitQueueOptions } from '../runtime/wait-queue.ts'

/** The wait for an upstream connection; see WaitQueueOptions for the defaults. */
export type AcquireQueueOptions = WaitQueueOptions

/**
 * The wait for a free upstream connection when every instance is at its connection limit (see
 * WaitQueue for why undici cannot do it): refused as never sent, with UPSTREAM_QUEUE_FULL or
 * UPSTREAM_ACQUIRE_TIMEOUT.
 */
export class AcquireQueue<T, A> extends WaitQueue<T, A> {
  constructor(options: AcquireQueueOptions, take: (avoid: A) => T | undefined) {
    super('acquireQueue', options, take, {
      full: (waiting) =>
        new PayrailError(
          'UPSTREAM_QUEUE_FULL',
          `${waiting} requests already wait for an upstream connection`,
        ),
      timedOut: (timeoutMs) =>
        new PayrailError(
          'UPSTREAM_ACQUIRE_TIMEOUT',
          `no upstream connection became free within ${timeoutMs} ms`,
        ),
    })
  }
}
