/** Whether a write failed on a primary key or unique constraint, in any of the three dialects. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, errno } = error as { code?: unknown; errno?: unknown }
  return (
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'ER_DUP_ENTRY' ||
    errno === 1062 ||
    code === '23505'
  )
}

/** Fields of a driver error that name what failed without quoting the statement or its values. */
const SAFE_FIELDS = ['code', 'errno', 'sqlState', 'severity', 'constraint', 'table', 'fatal'] as const

/**
 * A driver error without the statement: mysql2 puts the statement with every value interpolated
 * in `sql` (and quotes it in syntax errors' messages), PostgreSQL's `detail` repeats the values of
 * a conflicting key, and loggers serialize every field and the cause. The copy keeps the fields
 * code matches on (`isUniqueViolation`, retries) and a message made of them. Node's own network
 * errors (refused, reset, timed out) carry no SQL and pass unchanged.
 */
export function withoutStatement(error: unknown): unknown {
  if (!(error instanceof Error)) return error
  if (typeof (error as { syscall?: unknown }).syscall === 'string') return error
  const fields = error as unknown as Record<string, unknown>
  const safe = new Error(
    `database error${fields.code === undefined ? '' : ` ${String(fields.code)}`}${
      typeof fields.errno === 'number' ? ` (errno ${fields.errno})` : ''
    }${typeof fields.constraint === 'string' ? ` on constraint ${fields.constraint}` : ''}`,
  )
  safe.name = 'DatabaseError'
  for (const field of SAFE_FIELDS)
    if (fields[field] !== undefined) Object.assign(safe, { [field]: fields[field] })
  return safe
}
