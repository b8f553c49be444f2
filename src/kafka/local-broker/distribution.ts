import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { PayrailError } from '../../domain/errors.ts'

/** The broker version payrail runs; tools/kafka/pom.xml names the same one. */
export const KAFKA_VERSION = '4.3.1'

/** What to fetch: the broker (tools/kafka/pom.xml) or Kafka's perf tools (tools/kafka/perf/pom.xml). */
export type KafkaComponent = 'broker' | 'perf'

export interface DistributionOptions {
  /** The repository root, which holds tools/kafka/pom.xml. */
  root: string
  /** Where jars are cached across runs and clones. Default: `$XDG_CACHE_HOME/payrail` or `~/.cache/payrail`. */
  cacheDir?: string
  /** Progress lines for the user. */
  say: (line: string) => void
}

function defaultCacheDir(): string {
  return (
    process.env.PAYRAIL_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'payrail')
  )
}

function commandWorks(command: string, args: string[]): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' })
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` }
}

/** Java 17 or newer must be on PATH; Kafka 4 does not run on older ones. */
export function requireJava(): void {
  const java = commandWorks('java', ['-version'])
  const major = /version "(\d+)/.exec(java.output)?.[1]
  if (!java.ok || major === undefined || Number(major) < 17) {
    throw new PayrailError(
      'DEPENDENCY_MISSING',
      'the local Kafka broker needs Java 17+ and Maven on PATH: install them, or set KAFKA_BROKERS to an existing cluster',
    )
  }
}

/**
 * Returns the directory of the broker's jars, fetching them with Maven once. The copy goes to a
 * temporary directory that is renamed into place, so an interrupted fetch is never mistaken
 * for a complete one.
 */
export function ensureDistribution(
  options: DistributionOptions,
  component: KafkaComponent = 'broker',
): string {
  const home = join(options.cacheDir ?? defaultCacheDir(), 'kafka', KAFKA_VERSION)
  const libs = join(home, component === 'broker' ? 'libs' : 'perf-libs')
  const marker = component === 'broker' ? 'kafka_2.13-' : 'kafka-tools-'
  if (existsSync(libs) && readdirSync(libs).some((name) => name.startsWith(marker))) return libs

  requireJava()
  if (!commandWorks('mvn', ['-v']).ok) {
    throw new PayrailError(
      'DEPENDENCY_MISSING',
      'fetching the Kafka broker needs Maven (mvn) and Java 17+: install them, or set KAFKA_BROKERS to an existing cluster',
    )
  }
  mkdirSync(home, { recursive: true })
  const staging = join(home, `${component}.partial-${process.pid}`)
  rmSync(staging, { recursive: true, force: true })
  options.say(
    `fetching Apache Kafka ${KAFKA_VERSION} (${component}) and its dependencies from Maven Central into ${libs}`,
  )
  const fetch = spawnSync(
    'mvn',
    [
      '-B',
      '-q',
      '-f',
      join(options.root, 'tools', 'kafka', ...(component === 'broker' ? [] : ['perf']), 'pom.xml'),
      'dependency:copy-dependencies',
      `-DoutputDirectory=${staging}`,
      '-DincludeScope=runtime',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  )
  if (fetch.status !== 0) {
    rmSync(staging, { recursive: true, force: true })
    throw new PayrailError(
      'KAFKA_BROKER_START_FAILED',
      `Maven could not fetch Kafka ${KAFKA_VERSION} (exit ${fetch.status})`,
    )
  }
  rmSync(libs, { recursive: true, force: true })
  renameSync(staging, libs)
  return libs
}
