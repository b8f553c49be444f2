/**
 * `payrail outbox status | head -1`: once the reader is gone, each write to the pipe fails with
 * EPIPE, which Node raises as an unhandled 'error' and ends the process with a stack trace.
 * Here a closed output ends the command quietly instead: a role stops as on SIGTERM (finishing
 * what it took, as `runRole` does), any other command exits 0 with nothing left worth saying.
 * Any other error of the streams is not ours to hide and is thrown on.
 */
export function exitQuietlyWhenOutputCloses(proc: NodeJS.Process = process): void {
  let closing = false
  const onError = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    if (closing) return
    closing = true
    if (proc.listenerCount('SIGTERM') > 0) proc.kill(proc.pid, 'SIGTERM')
    else proc.exit(0)
  }
  proc.stdout.on('error', onError)
  proc.stderr.on('error', onError)
}
