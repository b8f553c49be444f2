import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import type { Command } from 'commander'
import { PayrailError } from '../../domain/errors.ts'
import { stopChild } from '../../runtime/stop-child.ts'
import { countOption, ROOT, say } from '../context.ts'
import { fileTargets, prepareMonitoringConfig, targetsFolder } from '../monitoring-config.ts'
import {
  prometheusBinary,
  startAlertmanager,
  startPrometheus,
  type ToolProcess,
} from '../monitoring-processes.ts'
import { whichTool } from '../system-tools.ts'

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost):\d+$/

interface MonitoringOptions {
  targets: string
  port: string
  data?: string
}

export function registerMonitoring(program: Command): void {
  program
    .command('monitoring')
    .description(
      "run Prometheus with payrail's rules and alerts against the platform (and Alertmanager when Debian's prometheus-alertmanager is installed), print their URLs, stop on Ctrl-C",
    )
    .option(
      '--targets <environment|folder>',
      'a target folder of deploy/prometheus/targets/ by name, or a folder of the same files (a path with a /)',
      'local',
    )
    .option('--port <port>', "Prometheus' port on 127.0.0.1", '9090')
    .option(
      '--data <dir>',
      "configuration links, TSDB and logs (default: the repository's .payrail/monitoring)",
    )
    .action(async (options: MonitoringOptions) => {
      const port = countOption('--port', options.port, 1, 65_535)
      prometheusBinary()
      const targets = options.targets.includes(sep)
        ? resolve(options.targets)
        : targetsFolder(ROOT, options.targets)
      if (!existsSync(join(targets, 'gateway.yml')))
        throw new PayrailError(
          'USAGE',
          `--targets ${options.targets}: no target files there (gateway.yml, api.yml, …)`,
        )
      const data = options.data === undefined ? join(ROOT, '.payrail', 'monitoring') : resolve(options.data)
      const configFile = prepareMonitoringConfig({ root: ROOT, dir: join(data, 'config'), targets })
      const running: ToolProcess[] = []
      const stopAll = async () => {
        for (const tool of running.reverse()) await stopChild(tool.child, tool.exited, 10_000)
      }
      try {
        const alertmanager = whichTool('prometheus-alertmanager')
        // Only an Alertmanager the layout puts on this machine is ours to start.
        const address = fileTargets(join(targets, 'alertmanager.yml'))[0]
        if (alertmanager !== undefined && address !== undefined && LOOPBACK.test(address))
          running.push(
            await startAlertmanager({
              binary: alertmanager,
              configFile: join(ROOT, 'deploy', 'alertmanager', 'alertmanager.yml'),
              dataDir: join(data, 'alertmanager'),
              address,
              logFile: join(data, 'alertmanager.log'),
            }),
          )
        running.push(
          await startPrometheus({
            configFile,
            dataDir: join(data, 'prometheus'),
            port,
            logFile: join(data, 'prometheus.log'),
          }),
        )
      } catch (error) {
        await stopAll()
        throw error
      }

      const [prometheus, alertmanager] = [running.at(-1), running.length > 1 ? running[0] : undefined]
      say(
        `Prometheus    ${prometheus?.url}  (targets: ${options.targets}, alerts: ${prometheus?.url}/alerts)`,
      )
      say(
        alertmanager === undefined
          ? "Alertmanager  not started (install Debian's prometheus-alertmanager to route the alerts)"
          : `Alertmanager  ${alertmanager.url}`,
      )
      say(`logs, data    ${data}`)
      say('Press Ctrl-C to stop.')

      const exited = Promise.race(
        running.map((tool) => tool.exited.then(() => `${tool.logFile} ended: its process exited`)),
      )
      const signal = Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]).then(
        ([name]) => `received ${String(name)}`,
      )
      const reason = await Promise.race([signal, exited])
      say(`\n${reason}; stopping`)
      await stopAll()
      say('stopped')
      if (reason.includes('exited')) process.exitCode = 1
    })
}
