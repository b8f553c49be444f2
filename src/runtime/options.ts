import { type TObject, type TSchema, Type } from 'typebox'
import Value from 'typebox/value'
import { PayrailError } from '../domain/errors.ts'

/**
 * payrail's one way to check options, for the environment (`src/config`) and for every
 * component's options object alike: a TypeBox schema per field, plus rules that tie fields
 * together, checked once at start-up. A bad value stops the process with CONFIG_INVALID naming
 * every bad field, its value (never a secret's) and the form expected.
 */

/** Keywords payrail reads on a field's schema, beside TypeBox's own. */
export interface FieldAnnotations {
  /** The form expected, in words ("must be a whole number from 1 to 65535"); else TypeBox's message. */
  problem?: string
  /** Never echo the value (tokens, passwords): the message says "(hidden)" instead. */
  secret?: boolean
}

/**
 * A rule over several fields, checked once each field it reads is valid on its own: those in
 * `fields` when it names them (so that its problem is reported beside other fields' problems),
 * else every field.
 */
export interface OptionRule<T> {
  /** The fields `holds` reads; without it, the rule waits for every field to be valid. */
  fields?: readonly (keyof T)[]
  holds: (options: T) => boolean
  /** Names every field involved, e.g. "OUTBOX_LEASE_MS must be at least 3 × KAFKA_DELIVERY_TIMEOUT_MS". */
  problem: (options: T) => string
}

/**
 * A URL's credentials masked: everything between `//` and the last `@` before the path, so an
 * empty user name (`redis://:pw@host`) or an `@` inside the password hides all of it. The user
 * name stays when there is one, for the reader to recognise the URL.
 */
export function maskCredentials(text: string): string {
  return text.replace(/\/\/([^/?#\s]*)@/g, (_, userinfo: string) => {
    const colon = userinfo.indexOf(':')
    return colon === -1 ? '//***@' : `//${userinfo.slice(0, colon)}:***@`
  })
}

/** How a value appears in a message: strings quoted, credentials in URLs masked, secrets hidden. */
function shownValue(value: unknown, annotations: FieldAnnotations = {}): string {
  if (annotations.secret === true) return '(hidden)'
  if (typeof value === 'string') return JSON.stringify(maskCredentials(value))
  if (typeof value === 'function') return '(a function)'
  if (Array.isArray(value) || (typeof value === 'object' && value !== null && value.constructor === Object)) {
    try {
      return JSON.stringify(value)
    } catch {
      return '(an object)'
    }
  }
  if (typeof value === 'object' && value !== null) return '(an object)'
  return String(value)
}

/** Every field of `value` that `schema` refuses, with its first reason, in the schema's field order. */
function refusedFields(schema: TObject, value: Record<string, unknown>): Map<string, string> {
  const byField = new Map<string, string>()
  for (const error of Value.Errors(schema, value)) {
    const fields =
      error.instancePath === ''
        ? ((error.params as { requiredProperties?: string[] }).requiredProperties ?? [])
        : [error.instancePath.split('/')[1] ?? '']
    for (const field of fields) {
      if (byField.has(field)) continue
      const fieldSchema = schema.properties[field] as (TSchema & FieldAnnotations) | undefined
      // A refinement's message is the specific reason; otherwise the field's own wording.
      const reason =
        error.keyword === '~refine' ? error.message : (fieldSchema?.problem ?? error.message ?? 'is invalid')
      byField.set(field, reason)
    }
  }
  const ordered = new Map<string, string>()
  for (const field of Object.keys(schema.properties)) {
    const reason = byField.get(field)
    if (reason !== undefined) ordered.set(field, reason)
  }
  return ordered
}

/** `refused` as `prefix + field=value: problem`, one per field. */
function describeRefused(
  schema: TObject,
  value: Record<string, unknown>,
  refused: Map<string, string>,
  prefix: string,
): string[] {
  return [...refused].map(([field, reason]) => {
    const fieldSchema = schema.properties[field] as TSchema & FieldAnnotations
    const shown = field in value ? shownValue(value[field], fieldSchema) : '(missing)'
    return `${prefix}${field}=${shown}: ${reason}`
  })
}

/**
 * Every field of `value` that `schema` refuses, as `prefix + field=value: problem`, one per
 * field (the first reason), in the schema's field order.
 */
export function fieldProblems(schema: TObject, value: Record<string, unknown>, prefix = ''): string[] {
  return describeRefused(schema, value, refusedFields(schema, value), prefix)
}

/** `defaults` overlaid with every option that is not `undefined`. */
export function withDefaults<T extends object>(defaults: T, options: Partial<T>): T {
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) }
  for (const [key, value] of Object.entries(options)) if (value !== undefined) merged[key] = value
  return merged as unknown as T
}

/**
 * A component's options with its defaults applied, checked field by field against `schema` and
 * against each rule whose fields are valid (see `OptionRule.fields`); throws CONFIG_INVALID
 * naming every problem, a field's as `component.field=value`.
 */
export function resolveOptions<T extends object>(
  component: string,
  schema: TObject,
  defaults: T,
  options: Partial<T>,
  rules: readonly OptionRule<T>[] = [],
): T {
  const resolved = withDefaults(defaults, options)
  const value = resolved as Record<string, unknown>
  const refused = refusedFields(schema, value)
  const problems = describeRefused(schema, value, refused, `${component}.`)
  for (const rule of rules) {
    const reads = rule.fields?.map(String) ?? Object.keys(schema.properties)
    if (reads.every((field) => !refused.has(field)) && !rule.holds(resolved))
      problems.push(`${component}: ${rule.problem(resolved)}`)
  }
  if (problems.length > 0) {
    throw new PayrailError('CONFIG_INVALID', `invalid ${component} options: ${problems.join('; ')}`)
  }
  return resolved
}

/** A whole number field from `min` to `max`, with payrail's wording. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return Type.Integer({ minimum: min, maximum: max, problem: `must be a whole number from ${min} to ${max}` })
}

/** A string field with at least one character besides white space. */
export function nonEmptyText() {
  return Type.String({ pattern: '\\S', problem: 'must be a non-empty string' })
}

/** A function field (its parameters are not checked). */
export function callable() {
  return Type.Function([], Type.Unknown(), { problem: 'must be a function' })
}

/** A fraction field from 0 to 1. */
export function fraction() {
  return Type.Number({ minimum: 0, maximum: 1, problem: 'must be a fraction from 0 to 1' })
}

/** An http(s) URL field. */
export function httpUrl() {
  return Type.Refine(
    Type.String({ pattern: '^https?://', problem: 'must be an http(s) URL' }),
    (value) => URL.canParse(value),
    () => 'must be an http(s) URL',
  )
}
