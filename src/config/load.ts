import { existsSync, readFileSync } from 'node:fs'
import { parseEnv } from 'node:util'
import { z } from 'zod'
import { PayrailError } from '../domain/errors.ts'
import { variables } from './variables.ts'

const schema = z.object(variables)

/** The validated configuration of one process. */
export type Config = z.infer<typeof schema>

/** Names of every variable payrail reads. */
export const variableNames = Object.keys(variables) as (keyof Config)[]

export interface LoadConfigOptions {
  /** The process environment; it wins over the `.env` file. Default: `process.env`. */
  env?: NodeJS.ProcessEnv
  /** A dotenv file read when it exists. Default: `.env` in the working directory. */
  envFile?: string
}

/**
 * Reads the configuration once at start-up. Empty strings count as unset, so that
 * `FOO=` in a compose file means "use the default" rather than "invalid".
 * Throws CONFIG_INVALID naming every bad variable and the form it expects.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env
  const envFile = options.envFile ?? '.env'
  const fromFile = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {}
  const raw: Record<string, string> = {}
  for (const name of variableNames) {
    const value = env[name] ?? fromFile[name]
    if (value !== undefined && value !== '') raw[name] = value
  }
  const result = schema.safeParse(raw)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0])
      return `${name}=${JSON.stringify(raw[name] ?? '')}: ${issue.message}`
    })
    throw new PayrailError('CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`)
  }
  return result.data
}
