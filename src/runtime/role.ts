/**
 * A role (api, gateway, relay, worker, acquirer) running in this process: what every role's
 * `start…Role` returns, so the launcher and the supervisor need not know which role it is.
 */
export interface RunningRole {
  /** Where the role listens, for the people and processes that call it. */
  url: string
  /** Stops taking work, finishes what it accepted, releases its resources. */
  close: () => Promise<void>
}
