import { randomFillSync } from 'node:crypto'

// W3C Trace Context level 1: version-traceid-parentid-flags, lower-case hex.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)

export interface TraceContext {
  traceId: string
  /** The `traceparent` to send upstream: the caller's trace, with the gateway's hop as parent. */
  traceparent: string
  /** The caller's `tracestate`, forwarded only along with a valid `traceparent`. */
  tracestate: string | undefined
}

/**
 * Continues the caller's trace when its `traceparent` is valid and starts a new one otherwise;
 * either way the upstream sees the gateway as the parent span.
 */
export class Tracer {
  // Random bytes drawn 4 KiB at a time: one call into the CSPRNG per ~170 requests rather than
  // one or two per request on the hot path.
  readonly #entropy = Buffer.alloc(4096)
  #offset = this.#entropy.length

  continue(traceparent: string | undefined, tracestate: string | undefined): TraceContext {
    const match = traceparent === undefined ? null : TRACEPARENT.exec(traceparent)
    if (match !== null) {
      const [, version, traceId, parentId, flags, rest] = match as unknown as [
        string,
        string,
        string,
        string,
        string,
        string | undefined,
      ]
      // Version ff is forbidden; version 00 has nothing after the flags; later versions may.
      const valid =
        version !== 'ff' &&
        traceId !== ZERO_TRACE &&
        parentId !== ZERO_SPAN &&
        (version !== '00' || rest === undefined)
      if (valid) return { traceId, traceparent: `00-${traceId}-${this.#hex(8)}-${flags}`, tracestate }
    }
    const traceId = this.#hex(16)
    return { traceId, traceparent: `00-${traceId}-${this.#hex(8)}-01`, tracestate: undefined }
  }

  #hex(bytes: number): string {
    if (this.#offset + bytes > this.#entropy.length) {
      randomFillSync(this.#entropy)
      this.#offset = 0
    }
    this.#offset += bytes
    return this.#entropy.toString('hex', this.#offset - bytes, this.#offset)
  }
}
