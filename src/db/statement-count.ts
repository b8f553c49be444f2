import type { CompiledQuery, DatabaseConnection, Dialect, Driver } from 'kysely'

/** What a statement does, by its leading verb (a `with …` statement by its main one). */
export type StatementKind =
  | 'select'
  | 'insert'
  | 'update'
  | 'delete'
  | 'begin'
  | 'commit'
  | 'rollback'
  | 'other'

export const statementKinds: readonly StatementKind[] = [
  'select',
  'insert',
  'update',
  'delete',
  'begin',
  'commit',
  'rollback',
  'other',
]

/** Statements and round trips counted so far (or between two tallies, see `tallyBetween`). */
export interface StatementTally {
  statements: number
  /** Calls that each wait for the database's answer (see `countingDialect` for what that is per dialect). */
  roundTrips: number
  byKind: Record<StatementKind, number>
  /** Each statement's normalized text (`normalizeSql`) and how often it was sent, in first-sent order since the counter's last reset. */
  bySql: Record<string, number>
}

function emptyKinds(): Record<StatementKind, number> {
  return { select: 0, insert: 0, update: 0, delete: 0, begin: 0, commit: 0, rollback: 0, other: 0 }
}

/** Splits a text that may hold several statements at its top-level semicolons (quotes respected). */
export function splitStatements(text: string): string[] {
  const parts: string[] = []
  let start = 0
  let quote: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string
    if (quote !== undefined) {
      if (c === quote) quote = undefined
    } else if (c === "'" || c === '"' || c === '`') quote = c
    else if (c === ';') {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  parts.push(text.slice(start))
  return parts.map((part) => part.trim()).filter((part) => part !== '')
}

const TOKENS = /'(?:[^']|'')*'|"[^"]*"|`[^`]*`|\(|\)|[A-Za-z_]+/g

/** The kind of one statement: its first word, or for `with …` the first verb outside the CTEs' parentheses. */
export function kindOf(statement: string): StatementKind {
  const first = /^\s*([A-Za-z]+)/.exec(statement)?.[1]?.toLowerCase()
  switch (first) {
    case 'select':
    case 'insert':
    case 'update':
    case 'delete':
    case 'commit':
      return first
    case 'begin':
      return 'begin'
    case 'start':
      return /^\s*start\s+transaction\b/i.test(statement) ? 'begin' : 'other'
    case 'rollback':
      // `rollback to <savepoint>` ends no transaction.
      return /^\s*rollback\s+to\b/i.test(statement) ? 'other' : 'rollback'
    case 'with': {
      let depth = 0
      for (const [token] of statement.matchAll(TOKENS)) {
        if (token === '(') depth++
        else if (token === ')') depth--
        else if (depth === 0) {
          const word = token.toLowerCase()
          if (word === 'select' || word === 'insert' || word === 'update' || word === 'delete') return word
        }
      }
      return 'other'
    }
    default:
      return 'other'
  }
}

/**
 * One text per statement shape: whitespace collapsed, PostgreSQL's `$n` written `?` like the
 * others', and a run of placeholder tuples (a multi-row insert, an `in (…)` list) cut to its
 * first tuple and `…`, so that batches of different sizes count as one shape.
 */
export function normalizeSql(statement: string): string {
  return statement
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\$\d+/g, '?')
    .replace(/\((\?(?:, \?)*)\)(?:, \(\?(?:, \?)*\))+/g, '($1), …')
    .replace(/ in \(\?(?:, \?)+\)/g, ' in (?, …)')
}

/**
 * Counts the statements a database handle sends and the round trips they take, per kind and
 * per statement text. Injected into `openDatabase` (DatabaseOptions.statementCounter); without
 * one nothing is wrapped, so counting costs nothing when off. One counter per handle: a
 * caller that wants the cost of one operation runs it alone and takes `tallyBetween`.
 */
export interface StatementCounterOptions {
  /** Told of each statement as it is sent (normalized text and kind), e.g. to keep their order. Default: none. */
  onStatement?: (statement: string, kind: StatementKind) => void
}

export class StatementCounter {
  readonly #onStatement: StatementCounterOptions['onStatement']
  #statements = 0
  #roundTrips = 0
  #byKind = emptyKinds()
  readonly #bySql = new Map<string, number>()

  constructor(options: StatementCounterOptions = {}) {
    this.#onStatement = options.onStatement
  }

  /** One round trip that carried `text` (one or more statements). */
  record(text: string): void {
    this.#roundTrips++
    const statements = splitStatements(text)
    for (const statement of statements.length === 0 ? [text] : statements) {
      this.#statements++
      const kind = kindOf(statement)
      this.#byKind[kind]++
      const shape = normalizeSql(statement)
      this.#bySql.set(shape, (this.#bySql.get(shape) ?? 0) + 1)
      this.#onStatement?.(shape, kind)
    }
  }

  /** A copy of the counts so far. */
  tally(): StatementTally {
    return {
      statements: this.#statements,
      roundTrips: this.#roundTrips,
      byKind: { ...this.#byKind },
      bySql: Object.fromEntries(this.#bySql),
    }
  }

  reset(): void {
    this.#statements = 0
    this.#roundTrips = 0
    this.#byKind = emptyKinds()
    this.#bySql.clear()
  }

  /** Runs `work` and answers what was sent meanwhile (everything the handle sent, so run it alone). */
  async measure<T>(work: () => Promise<T>): Promise<{ value: T; tally: StatementTally }> {
    const before = this.tally()
    const value = await work()
    return { value, tally: tallyBetween(before, this.tally()) }
  }
}

/** What was counted between `before` and `after` (two tallies of one counter). */
export function tallyBetween(before: StatementTally, after: StatementTally): StatementTally {
  const byKind = emptyKinds()
  for (const kind of statementKinds) byKind[kind] = after.byKind[kind] - before.byKind[kind]
  const bySql: Record<string, number> = {}
  for (const [shape, count] of Object.entries(after.bySql)) {
    const sent = count - (before.bySql[shape] ?? 0)
    if (sent > 0) bySql[shape] = sent
  }
  return {
    statements: after.statements - before.statements,
    roundTrips: after.roundTrips - before.roundTrips,
    byKind,
    bySql,
  }
}

/**
 * A connection that records every query before it is sent and is otherwise the driver's own:
 * every other property (the driver's private release and discard methods among them) is read
 * from the real connection, so the dialect's driver can be handed this one for everything.
 */
function countedConnection(connection: DatabaseConnection, counter: StatementCounter): DatabaseConnection {
  return new Proxy(connection, {
    get(target, property) {
      if (property === 'executeQuery') {
        return (query: CompiledQuery, ...rest: unknown[]) => {
          counter.record(query.sql)
          return (target.executeQuery as (...args: unknown[]) => unknown).call(target, query, ...rest)
        }
      }
      if (property === 'streamQuery') {
        // A stream counts once, however many chunks it yields; payrail's write path streams nothing.
        return (query: CompiledQuery, ...rest: unknown[]) => {
          counter.record(query.sql)
          return (target.streamQuery as (...args: unknown[]) => unknown).call(target, query, ...rest)
        }
      }
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

class CountingDriver implements Driver {
  readonly #inner: Driver
  readonly #counter: StatementCounter
  readonly #counted = new WeakMap<DatabaseConnection, DatabaseConnection>()

  constructor(inner: Driver, counter: StatementCounter) {
    this.#inner = inner
    this.#counter = counter
  }

  init(...args: Parameters<Driver['init']>) {
    return this.#inner.init(...args)
  }

  async acquireConnection(...args: Parameters<Driver['acquireConnection']>): Promise<DatabaseConnection> {
    const inner = await this.#inner.acquireConnection(...args)
    // Drivers hand the same pooled connection out again; so do we, so identity checks hold.
    let counted = this.#counted.get(inner)
    if (counted === undefined) {
      counted = countedConnection(inner, this.#counter)
      this.#counted.set(inner, counted)
    }
    return counted
  }

  // The dialect's driver sends BEGIN, COMMIT, ROLLBACK and savepoints through the connection it
  // is given, so handing it the counted one counts them as the texts it really sends.
  beginTransaction(...args: Parameters<Driver['beginTransaction']>) {
    return this.#inner.beginTransaction(...args)
  }
  commitTransaction(...args: Parameters<Driver['commitTransaction']>) {
    return this.#inner.commitTransaction(...args)
  }
  rollbackTransaction(...args: Parameters<Driver['rollbackTransaction']>) {
    return this.#inner.rollbackTransaction(...args)
  }
  async savepoint(...args: Parameters<NonNullable<Driver['savepoint']>>): Promise<void> {
    if (this.#inner.savepoint === undefined) throw new Error('the driver has no savepoints')
    await this.#inner.savepoint(...args)
  }
  async rollbackToSavepoint(...args: Parameters<NonNullable<Driver['rollbackToSavepoint']>>): Promise<void> {
    if (this.#inner.rollbackToSavepoint === undefined) throw new Error('the driver has no savepoints')
    await this.#inner.rollbackToSavepoint(...args)
  }
  async releaseSavepoint(...args: Parameters<NonNullable<Driver['releaseSavepoint']>>): Promise<void> {
    if (this.#inner.releaseSavepoint === undefined) throw new Error('the driver has no savepoints')
    await this.#inner.releaseSavepoint(...args)
  }
  releaseConnection(...args: Parameters<Driver['releaseConnection']>) {
    return this.#inner.releaseConnection(...args)
  }
  destroy(...args: Parameters<Driver['destroy']>) {
    return this.#inner.destroy(...args)
  }
}

/**
 * `dialect` with every statement its driver sends counted in `counter`, BEGIN and COMMIT
 * included (as the texts the driver sends: `begin immediate` on SQLite, payrail's own; `begin`
 * on MariaDB and PostgreSQL; `commit`). A round trip is one call that waits for the database:
 * - PostgreSQL (pg): a query with parameters goes as one extended-protocol exchange
 *   (Parse/Bind/Describe/Execute/Sync in one write, one wait for ReadyForQuery); BEGIN and
 *   COMMIT as simple queries. One round trip each.
 * - MariaDB (mysql2 `query`): parameters are interpolated in the client and sent as one
 *   COM_QUERY, no server-side prepare. One round trip each.
 * - SQLite (better-sqlite3): in the process, no network; a "round trip" is one synchronous call
 *   into SQLite through Kysely's async driver, one await each.
 * A text that holds several statements (none today) counts as one round trip and several statements.
 */
export function countingDialect(dialect: Dialect, counter: StatementCounter): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new CountingDriver(dialect.createDriver(), counter),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  }
}
