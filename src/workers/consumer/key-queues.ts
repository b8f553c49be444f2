/**
 * One FIFO per key, so that records with the same key run one at a time in the order they were
 * taken while records with other keys run beside them. A key is busy from the moment an item is
 * admitted until `release` finds its queue empty; the running item itself is not stored here.
 */
export class KeyQueues<T> {
  /** Busy keys and the items waiting behind their running item. */
  readonly #waiting = new Map<string, T[]>()
  #queued = 0

  /** Admits an item: true when its key was idle and the caller should run it now, false when it was queued. */
  offer(key: string, item: T): boolean {
    const queue = this.#waiting.get(key)
    if (queue === undefined) {
      this.#waiting.set(key, [])
      return true
    }
    queue.push(item)
    this.#queued++
    return false
  }

  /** The running item of `key` is done: the next item to run for it, or undefined when the key is idle again. */
  release(key: string): T | undefined {
    const queue = this.#waiting.get(key)
    if (queue === undefined) return undefined
    const next = queue.shift()
    if (next === undefined) this.#waiting.delete(key)
    else this.#queued--
    return next
  }

  /** Removes the waiting items that match (their keys stay busy while an item of theirs runs); returns them. */
  remove(matches: (item: T) => boolean): T[] {
    const removed: T[] = []
    for (const [key, queue] of this.#waiting) {
      const kept = queue.filter((item) => !matches(item))
      if (kept.length === queue.length) continue
      for (const item of queue) if (matches(item)) removed.push(item)
      this.#waiting.set(key, kept)
    }
    this.#queued -= removed.length
    return removed
  }

  /** Whether any waiting item matches. */
  some(matches: (item: T) => boolean): boolean {
    for (const queue of this.#waiting.values()) if (queue.some(matches)) return true
    return false
  }

  /** Calls `visit` on every waiting item. */
  forEach(visit: (item: T) => void): void {
    for (const queue of this.#waiting.values()) for (const item of queue) visit(item)
  }

  /** Items waiting behind a running item of their key. */
  get queued(): number {
    return this.#queued
  }

  /** Keys with an item running. */
  get busy(): number {
    return this.#waiting.size
  }

  isBusy(key: string): boolean {
    return this.#waiting.has(key)
  }
}
