import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

/**
 * Programs from Debian's packages that some tests and commands run: Prometheus' rule checker and
 * server, Alertmanager's configuration checker (its package also brings the Alertmanager that
 * `payrail monitoring` starts), the compose tool that validates the deployment files, and the
 * Chromium that the dashboard's browser tests drive (Debian's build: the tests never download one). Each names the package that
 * brings it, so that set-up can install what is missing.
 */
export const systemTools = {
  promtool: { package: 'prometheus', label: 'promtool (Prometheus rule checker)' },
  prometheus: { package: 'prometheus', label: 'Prometheus' },
  amtool: { package: 'prometheus-alertmanager', label: 'amtool (Alertmanager configuration checker)' },
  'docker-compose': { package: 'docker-compose', label: 'docker-compose (compose file validation)' },
  chromium: { package: 'chromium', label: 'Chromium (browser tests of the dashboard)' },
} as const

export type SystemTool = keyof typeof systemTools

/** The path of `command` on PATH, or undefined. */
export function whichTool(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const folder of (env.PATH ?? '').split(delimiter)) {
    if (folder === '') continue
    const candidate = join(folder, command)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this folder; the next one may have it
    }
  }
  return undefined
}

function aptGet(args: string[]): { ok: boolean; output: string } {
  const result = spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 600_000,
  })
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() }
}

/**
 * Installs the Debian packages of the tools that are missing (as root, with apt-get; once more
 * after `apt-get update` when the first try fails, since a new machine's package lists may be
 * empty). Returns each tool still missing with the reason, so the caller decides whether that
 * fails the run (CI) or only skips the tests that need it.
 */
export function ensureSystemTools(tools: readonly SystemTool[]): { tool: SystemTool; reason: string }[] {
  const missing = () => tools.filter((tool) => whichTool(tool) === undefined)
  const packages = [...new Set(missing().map((tool) => systemTools[tool].package))]
  if (packages.length === 0) return []
  if (process.getuid?.() !== 0)
    return missing().map((tool) => ({
      tool,
      reason: `not on PATH, and only root can install Debian's ${systemTools[tool].package} here`,
    }))
  if (whichTool('apt-get') === undefined)
    return missing().map((tool) => ({ tool, reason: 'not on PATH, and there is no apt-get to install it' }))
  const install = ['install', '-y', '--no-install-recommends', ...packages]
  let attempt = aptGet(install)
  if (!attempt.ok) {
    aptGet(['update'])
    attempt = aptGet(install)
  }
  const lastLine = attempt.output.split('\n').at(-1) ?? ''
  return missing().map((tool) => ({
    tool,
    reason: `apt-get install ${systemTools[tool].package} did not bring it (${lastLine})`,
  }))
}
