import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { PayrailError } from '../domain/errors.ts'
import { until } from '../runtime/until.ts'
import { systemTools, whichTool } from './system-tools.ts'

export interface ToolProcess {
  child: ChildProcess
  exited: Promise<unknown[]>
  /** Where its output goes (appended), for the person at the terminal and for failures. */
  logFile: string
  /** Its HTTP address, `http://host:port`. */
  url: string
}

/** The path of Debian's `prometheus`, or DEPENDENCY_MISSING naming the package. */
export function prometheusBinary(): string {
  const path = whichTool('prometheus')
  if (path === undefined)
    throw new PayrailError(
      'DEPENDENCY_MISSING',
      `Prometheus is not installed: install Debian's package ${systemTools.prometheus.package} (apt-get install ${systemTools.prometheus.package})`,
    )
  return path
}

function lastLines(file: string, count: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-count).join('\n')
  } catch {
    return '(no output)'
  }
}

/**
 * Starts `command` with its output appended to `logFile` and resolves once `GET url/-/ready`
 * answers 200 (Prometheus and Alertmanager both serve it), within `timeoutMs`. A process that
 * exits first, or is not ready in time, is killed and fails this with the end of its log.
 */
async function startTool(
  name: string,
  command: string,
  args: string[],
  url: string,
  logFile: string,
  timeoutMs: number,
): Promise<ToolProcess> {
  mkdirSync(dirname(logFile), { recursive: true })
  const log = openSync(logFile, 'a')
  const child = spawn(command, args, { stdio: ['ignore', log, log] })
  closeSync(log)
  const exited = once(child, 'exit')
  const failure = (why: string) =>
    new PayrailError('INTERNAL', `${name} ${why}; the end of ${logFile}:\n${lastLines(logFile, 15)}`)
  try {
    await until(
      `${name} to answer ${url}/-/ready`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw failure(`exited (${child.exitCode ?? child.signalCode}) while starting`)
        return fetch(`${url}/-/ready`).then(
          (response) => response.ok,
          () => false,
        )
      },
      { timeoutMs, intervalMs: 100 },
    )
  } catch (error) {
    child.kill('SIGKILL')
    if ((error as { code?: unknown }).code === 'INTERNAL') throw error
    throw failure(`was not ready within ${timeoutMs} ms`)
  }
  return { child, exited, logFile, url }
}

export interface PrometheusOptions {
  /** From `prepareMonitoringConfig`. */
  configFile: string
  /** The TSDB folder. */
  dataDir: string
  /** Port on 127.0.0.1. */
  port: number
  logFile: string
  /** Longest wait for readiness. Default: 30000 ms. */
  timeoutMs?: number
}

/** Debian's Prometheus on 127.0.0.1 with payrail's configuration; resolves once it is ready. */
export function startPrometheus(options: PrometheusOptions): Promise<ToolProcess> {
  const url = `http://127.0.0.1:${options.port}`
  return startTool(
    'Prometheus',
    prometheusBinary(),
    [
      `--config.file=${options.configFile}`,
      `--storage.tsdb.path=${options.dataDir}`,
      `--web.listen-address=127.0.0.1:${options.port}`,
    ],
    url,
    options.logFile,
    options.timeoutMs ?? 30_000,
  )
}

export interface AlertmanagerOptions {
  /** The path of Debian's `prometheus-alertmanager`. */
  binary: string
  /** deploy/alertmanager/alertmanager.yml. */
  configFile: string
  dataDir: string
  /** `host:port` to listen on. */
  address: string
  logFile: string
  /** Longest wait for readiness. Default: 30000 ms. */
  timeoutMs?: number
}

/**
 * Alertmanager alone (its cluster port, 0.0.0.0:9094 by default, is turned off: one instance
 * needs no peers); resolves once it is ready.
 */
export function startAlertmanager(options: AlertmanagerOptions): Promise<ToolProcess> {
  return startTool(
    'Alertmanager',
    options.binary,
    [
      `--config.file=${options.configFile}`,
      `--storage.path=${options.dataDir}`,
      `--web.listen-address=${options.address}`,
      '--cluster.listen-address=',
    ],
    `http://${options.address}`,
    options.logFile,
    options.timeoutMs ?? 30_000,
  )
}
