import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { PayrailError } from '../domain/errors.ts'

/** Where payrail's Prometheus files live in the repository. */
export function prometheusFolder(root: string): string {
  return join(root, 'deploy', 'prometheus')
}

/** The environments with a target folder (`deploy/prometheus/targets/<name>/`): local, compose, cloud.example. */
export function monitoringEnvironments(root: string): string[] {
  return readdirSync(join(prometheusFolder(root), 'targets'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
}

/** The target folder of `environment`; a clear USAGE error naming the known ones otherwise. */
export function targetsFolder(root: string, environment: string): string {
  const known = monitoringEnvironments(root)
  if (!known.includes(environment))
    throw new PayrailError(
      'USAGE',
      `no Prometheus targets for environment "${environment}" (deploy/prometheus/targets/ has ${known.join(', ')})`,
    )
  return join(prometheusFolder(root), 'targets', environment)
}

export interface MonitoringConfigOptions {
  /** The repository root (deploy/prometheus/ below it). */
  root: string
  /** A folder of payrail's own, emptied and filled here. */
  dir: string
  /** The file_sd target folder to link as `targets/`. */
  targets: string
  /**
   * The text of prometheus.yml to write instead of linking the repository's (tests shorten its
   * intervals); the rules and targets are linked either way. Default: the repository's file.
   */
  config?: string
}

/**
 * The layout prometheus.yml expects, without a second copy of anything: `dir/prometheus.yml`,
 * `dir/rules` and `dir/targets` as links to the repository's files and the environment's target
 * folder (Prometheus resolves the config's relative paths against the folder of the path it
 * was given, not of the link's target). Returns the path to hand to `--config.file`.
 */
export function prepareMonitoringConfig(options: MonitoringConfigOptions): string {
  const source = prometheusFolder(options.root)
  rmSync(options.dir, { recursive: true, force: true })
  mkdirSync(options.dir, { recursive: true })
  const config = join(options.dir, 'prometheus.yml')
  if (options.config === undefined) symlinkSync(join(source, 'prometheus.yml'), config)
  else writeFileSync(config, options.config)
  symlinkSync(join(source, 'rules'), join(options.dir, 'rules'), 'dir')
  symlinkSync(resolve(options.targets), join(options.dir, 'targets'), 'dir')
  return config
}

/**
 * The `host:port` targets of one of payrail's file_sd files, in order: every list item of the
 * form `- host:port` (payrail's target files are written so; read without a YAML parser, which is
 * a development dependency only). A missing file has none.
 */
export function fileTargets(file: string): string[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  return [...text.matchAll(/^\s*-\s+["']?([\w.-]+:\d+)["']?\s*$/gm)].map((match) => match[1] as string)
}
