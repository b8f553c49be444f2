import { closeSync, existsSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Type } from 'typebox'
import Value from 'typebox/value'
import { PayrailError } from '../domain/errors.ts'
import type { Logger } from '../observability/logger.ts'

/**
 * The acquirer simulator's journal: one JSON line per operation it carried out, with the outcome
 * it decided (never a repeat answered from memory). A simulator started on the same file replays
 * it, so a `kill -9` loses neither what it did nor its count of it, like a real processor that
 * persists its authorizations and settlements.
 */

const reference = Type.String({ minLength: 1, maxLength: 64 })
const amount = Type.Integer({ minimum: 1 })
const time = Type.String({ minLength: 1 })

const JournalEntrySchema = Type.Union([
  Type.Object(
    {
      reference,
      operation: Type.Literal('authorize'),
      outcome: Type.Union([Type.Literal('approved'), Type.Literal('declined')]),
      amount,
      time,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      reference,
      operation: Type.Literal('void'),
      outcome: Type.Literal('voided'),
      amount: Type.Null(),
      time,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      reference,
      operation: Type.Literal('settle'),
      outcome: Type.Union([Type.Literal('settled'), Type.Literal('failed')]),
      amount,
      time,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      reference,
      operation: Type.Literal('refund'),
      outcome: Type.Union([Type.Literal('refunded'), Type.Literal('failed')]),
      amount,
      time,
    },
    { additionalProperties: false },
  ),
])

/** One operation the simulator carried out; `amount` is null for a void, which carries none. */
export type JournalEntry =
  | {
      reference: string
      operation: 'authorize'
      outcome: 'approved' | 'declined'
      amount: number
      time: string
    }
  | { reference: string; operation: 'void'; outcome: 'voided'; amount: null; time: string }
  | { reference: string; operation: 'settle'; outcome: 'settled' | 'failed'; amount: number; time: string }
  | { reference: string; operation: 'refund'; outcome: 'refunded' | 'failed'; amount: number; time: string }

/** What was carried out under one reference, according to a journal. */
export interface JournalCounts {
  authorized: number
  settled: number
  refunded: number
  voided: number
}

interface ParsedJournal {
  entries: JournalEntry[]
  /** Bytes up to the end of the last complete line. */
  completeBytes: number
  /** What follows the last newline: the line a kill interrupted, or '' when there is none. */
  tornTail: string
}

/**
 * Every line must be a valid entry, except for text after the last newline: an append writes
 * the line and its newline in one go, so only a process killed in the middle of it (or a full
 * disk) leaves an unterminated tail, and that operation was never answered.
 */
function parseJournal(text: string, file: string): ParsedJournal {
  const end = text.lastIndexOf('\n') + 1
  const lines = text.slice(0, end).split('\n')
  lines.pop()
  const entries = lines.map((line, index) => {
    const where = `acquirer journal ${file} line ${index + 1}`
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      throw new PayrailError('ACQUIRER_JOURNAL_INVALID', `${where} is not JSON: ${(error as Error).message}`)
    }
    if (!Value.Check(JournalEntrySchema, value)) {
      const first = Value.Errors(JournalEntrySchema, value)[0]
      throw new PayrailError(
        'ACQUIRER_JOURNAL_INVALID',
        `${where} is not a journal entry (${first?.instancePath || '/'} ${first?.message ?? 'invalid'}): ${line.slice(0, 200)}`,
      )
    }
    return value as JournalEntry
  })
  return { entries, completeBytes: Buffer.byteLength(text.slice(0, end)), tornTail: text.slice(end) }
}

export interface OpenJournal {
  /** What the file held at start, in order. */
  entries: readonly JournalEntry[]
  /** Writes the entry through to the file before it returns (see the comment inside). */
  append(entry: JournalEntry): void
  close(): void
}

/**
 * Reads the journal (a missing file is an empty one), drops a torn last line with a warning, and
 * opens it for appending. Throws ACQUIRER_JOURNAL_INVALID naming the file and line of any other
 * bad line: starting without operations the simulator carried out would let it do them twice.
 */
export function openAcquirerJournal(file: string, logger: Logger): OpenJournal {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const { entries, completeBytes, tornTail } = parseJournal(text, file)
  if (tornTail !== '') {
    // Cut it off, or the next append would continue the torn line into one the next start refuses.
    truncateSync(file, completeBytes)
    logger.warn(
      { file, line: entries.length + 1, dropped: tornTail.slice(0, 200) },
      'acquirer journal: ignoring a torn last line (the process stopped while writing it)',
    )
  }
  const fd = openSync(file, 'a')
  logger.info({ file, entries: entries.length }, 'acquirer journal replayed')
  // After a failed append (a full disk) the file may end in part of a line: appending more would
  // bury it mid-file, where the next start refuses it, so every later append fails too.
  let failed: unknown
  return {
    entries,
    append(entry) {
      if (failed !== undefined) throw failed
      // Synchronous, before the answer is sent: an answered operation whose line still sat in a
      // buffer when a kill -9 came would be carried out again by the restarted simulator. A
      // write(2) lands in the kernel's page cache, which outlives the process (not the machine, so
      // no fsync: the journal guards against process kills). Measured here (2 cores, ext4 on
      // virtio, 144-byte lines, 20,000 appends): writeSync p50 0.5 µs, p99 2.5 µs; with an fsync
      // each (300 appends) p50 170 µs, p99 1.3–2.1 ms, for a protection the simulator does not need.
      const bytes = Buffer.from(`${JSON.stringify(entry)}\n`)
      try {
        let written = 0
        while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written)
      } catch (error) {
        failed = error
        throw error
      }
    },
    close() {
      closeSync(fd)
    },
  }
}

/** What the entries say was carried out per reference. */
export function countJournal(entries: Iterable<JournalEntry>): Map<string, JournalCounts> {
  const counts = new Map<string, JournalCounts>()
  for (const entry of entries) {
    const count = counts.get(entry.reference) ?? { authorized: 0, settled: 0, refunded: 0, voided: 0 }
    if (entry.operation === 'authorize') count.authorized += 1
    else if (entry.operation === 'settle') count.settled += 1
    else if (entry.operation === 'refund') count.refunded += 1
    else count.voided += 1
    counts.set(entry.reference, count)
  }
  return counts
}

/**
 * Counts per reference what a simulator journal says was carried out, for checkers such as
 * `payrail chaos` ("one settle per reference"). A torn last line is not counted (that operation
 * was never answered); any other bad line throws ACQUIRER_JOURNAL_INVALID naming it, and a
 * missing file throws ENOENT.
 */
export async function readAcquirerJournal(file: string): Promise<Map<string, JournalCounts>> {
  return countJournal(parseJournal(await readFile(file, 'utf8'), file).entries)
}
