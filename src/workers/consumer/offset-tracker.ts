interface Entry {
  offset: bigint
  leaderEpoch: number
  /** The record's Kafka timestamp (ms since the epoch); NaN when unknown. */
  timestamp: number
  done: boolean
}

/** Finished records below `end` not known to be committed; `timestamp` is the oldest one's. */
interface FinishedRun {
  end: bigint
  timestamp: number
}

/**
 * Finished runs kept for the lag in seconds until a commit covers them. Past this many (commits
 * failing for long), the newest two are merged under the older timestamp: the lag may then read
 * a little high, never low, and memory stays bounded.
 */
const MAX_FINISHED_RUNS = 256

/**
 * The records of one partition that this consumer has taken, in offset order, and which of them
 * are finished. Records finish in any order (they run in parallel), but the partition's commit
 * position only moves over a run of finished records: it is the offset of the oldest unfinished
 * record, or one past the newest record once all are finished. Committing it therefore never
 * skips a record that is still running, waiting for a retry, or was abandoned.
 *
 * Offsets need not be consecutive (compaction and transaction markers leave gaps); they only
 * have to arrive in increasing order, which Kafka guarantees within a partition. An offset at or
 * below one already taken is a redelivery (the fetch position is rewound to the committed offset
 * after every rebalance) and is refused.
 */
export class OffsetTracker {
  /** Taken records from the oldest unfinished one on; `#head` skips the finished prefix. */
  #entries: Entry[] = []
  #head = 0
  readonly #byOffset = new Map<bigint, Entry>()
  /** The smallest offset `take` accepts: one past the newest taken record. */
  #next: bigint
  /** The commit position once every taken record is finished. */
  #position: bigint | undefined
  #positionEpoch = -1
  /** Finished runs above the last commit this tracker was told of, oldest first. */
  #finishedRuns: FinishedRun[] = []
  /** Timestamp of the newest record taken; NaN before the first. */
  #newestTimestamp = Number.NaN

  /**
   * @param start the partition's committed offset when this consumer got it, where its fetch
   *   starts; -1 when the group never committed one (then the first record taken sets it).
   */
  constructor(start: bigint) {
    this.#next = start < 0n ? 0n : start
    this.#position = start < 0n ? undefined : start
  }

  /** Takes a record into the partition's work; false when the offset was already taken (a redelivery). */
  take(offset: bigint, leaderEpoch = -1, timestamp = Number.NaN): boolean {
    if (offset < this.#next) return false
    const entry: Entry = { offset, leaderEpoch, timestamp, done: false }
    this.#newestTimestamp = timestamp
    this.#entries.push(entry)
    this.#byOffset.set(offset, entry)
    this.#next = offset + 1n
    return true
  }

  /** Marks a taken record finished (handled or dead-lettered); moves the position over the finished run. */
  finish(offset: bigint): void {
    const entry = this.#byOffset.get(offset)
    if (entry === undefined || entry.done) return
    entry.done = true
    this.#byOffset.delete(offset)
    let head = this.#head
    const entries = this.#entries
    const runStart = entries[head] as Entry
    while (head < entries.length && (entries[head] as Entry).done) {
      const finished = entries[head] as Entry
      this.#position = finished.offset + 1n
      this.#positionEpoch = finished.leaderEpoch
      head++
    }
    if (head !== this.#head) this.#finishedRun(runStart.timestamp)
    if (head === entries.length) {
      this.#entries = []
      this.#head = 0
    } else if (head > 1024 && head * 2 > entries.length) {
      this.#entries = entries.slice(head)
      this.#head = 0
    } else {
      this.#head = head
    }
  }

  #finishedRun(timestamp: number): void {
    const runs = this.#finishedRuns
    runs.push({ end: this.#position as bigint, timestamp })
    if (runs.length > MAX_FINISHED_RUNS) {
      const newest = runs.pop() as FinishedRun
      ;(runs[runs.length - 1] as FinishedRun).end = newest.end
    }
  }

  /**
   * The Kafka timestamp of the oldest record taken that is not finished, or finished but not
   * below `committed` (the partition's last committed offset); undefined when there is none.
   */
  oldestUncommittedTimestamp(committed: bigint | undefined): number | undefined {
    const runs = this.#finishedRuns
    let covered = 0
    while (
      covered < runs.length &&
      committed !== undefined &&
      (runs[covered] as FinishedRun).end <= committed
    )
      covered++
    if (covered > 0) runs.splice(0, covered)
    const oldest = runs[0]?.timestamp ?? this.#entries[this.#head]?.timestamp
    return oldest === undefined || Number.isNaN(oldest) ? undefined : oldest
  }

  /** The Kafka timestamp of the newest record taken; undefined before the first. */
  get newestTimestamp(): number | undefined {
    return Number.isNaN(this.#newestTimestamp) ? undefined : this.#newestTimestamp
  }

  /**
   * The offset to commit: every record below it is finished. Undefined while nothing was ever
   * taken from a partition without a committed offset.
   */
  get position(): bigint | undefined {
    const oldest = this.#entries[this.#head]
    return oldest === undefined ? this.#position : oldest.offset
  }

  /** The leader epoch of the last record below `position`, for the commit (KIP-320); -1 when unknown. */
  get positionLeaderEpoch(): number {
    return this.#positionEpoch
  }

  /** Taken records not yet finished. */
  get pending(): number {
    return this.#entries.length - this.#head
  }

  /** Whether this offset was taken and is not finished. */
  isPending(offset: bigint): boolean {
    return this.#byOffset.has(offset)
  }
}
