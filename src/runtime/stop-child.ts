import type { ChildProcess } from 'node:child_process'
import { withDeadline } from './deadline.ts'

/**
 * SIGTERM to a child process, then SIGKILL if it outlives `graceMs`; resolves once it has
 * exited. `exited` settles when the child's 'exit' event fires. Used by `payrail up`'s
 * supervisor and by `payrail chaos`'s platform.
 */
export async function stopChild(
  child: ChildProcess,
  exited: Promise<unknown>,
  graceMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timedOut = await withDeadline(
    exited.then(() => false),
    graceMs,
    () => true,
  )
  if (timedOut) {
    child.kill('SIGKILL')
    await exited
  }
}
