import type { Socket } from 'node:net'
import { buildConnector, errors } from 'undici'

/**
 * undici's connector with a connect timeout that fires on time. undici's own connect timer runs
 * on its coarse "fast timers" (a tick of about half a second, one-second resolution), so a
 * 100 ms limit would fire after up to a second and a 2 s one up to a second late; the gateway
 * promises its callers GATEWAY_CONNECT_TIMEOUT_MS, so it keeps the connector and times the
 * connection with a plain timer. The error is undici's own ConnectTimeoutError, so everything
 * downstream (the "never sent" classification) sees the usual code.
 */
export function preciseConnector(timeoutMs: number): buildConnector.connector {
  // Typed as returning nothing, but it returns the socket it opens, which a timeout must destroy.
  const connect = buildConnector({ timeout: 0 }) as unknown as (
    options: buildConnector.Options,
    callback: buildConnector.Callback,
  ) => Socket | undefined
  return (options, callback) => {
    let settled = false
    const socket = connect(options, (error, connected) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (error === null) callback(null, connected as Socket)
      else callback(error, null)
    })
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      socket?.destroy()
      callback(
        new errors.ConnectTimeoutError(
          `Connect Timeout Error (attempted address: ${options.hostname}:${options.port}, timeout: ${timeoutMs}ms)`,
        ),
        null,
      )
    }, timeoutMs)
  }
}
