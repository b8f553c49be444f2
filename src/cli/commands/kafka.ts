import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { PayrailError } from '../../domain/errors.ts'
import { brokerLogFile, brokerStatus, startBroker, stopBroker } from '../../kafka/local-broker/broker.ts'
import {
  clusterBrokers,
  clusterStatus,
  recordedLayout,
  startCluster,
  stopCluster,
} from '../../kafka/local-broker/cluster.ts'
import { nodePaths } from '../../kafka/local-broker/node.ts'
import { config, countOption, ROOT, say } from '../context.ts'

function refuseWhenExternal(): void {
  const brokers = config().KAFKA_BROKERS
  if (brokers !== '') {
    throw new PayrailError(
      'USAGE',
      `KAFKA_BROKERS is set (${brokers}); payrail uses that cluster and runs no local broker`,
    )
  }
}

function printLog(file: string, lines: number, heading?: string): void {
  if (heading !== undefined) say(`==> ${heading} (${file}) <==`)
  process.stdout.write(
    `${readFileSync(file, 'utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n')}`,
  )
}

export function registerKafka(program: Command): void {
  const kafka = program
    .command('kafka')
    .description('run the local Kafka broker (KRaft) on 127.0.0.1:9092, or a local cluster of several')
  kafka
    .command('start')
    .description('fetch the broker once from Maven Central, then start it and wait until it serves metadata')
    .option('--nodes <count>', 'nodes: 1 is the single broker; 2 to 9 a cluster, one process per node', '1')
    .option('--port <port>', "a cluster's first client port; node i listens on port + i - 1", '9092')
    .action(async (options: { nodes: string; port: string }, command: Command) => {
      const nodes = countOption('--nodes', options.nodes, 1, 9)
      const port = countOption('--port', options.port, 1, 65_535)
      const portGiven = command.getOptionValueSource('port') === 'cli'
      if (nodes === 1 && portGiven)
        throw new PayrailError(
          'USAGE',
          '--port sets the port of a cluster (--nodes 2 or more); the single broker stays on 127.0.0.1:9092',
        )
      refuseWhenExternal()
      const started = Date.now()
      if (nodes === 1) {
        const result = await startBroker({ root: ROOT, say })
        if (result.started)
          say(`Kafka is ready on 127.0.0.1:9092 after ${Date.now() - started} ms (pid ${result.pid})`)
        return
      }
      const result = await startCluster({ root: ROOT, nodes, port, say })
      const brokers = clusterBrokers(result.layout).join(',')
      if (result.started) say(`the ${nodes}-node cluster is ready after ${Date.now() - started} ms`)
      say(`use it with KAFKA_BROKERS=${brokers}`)
    })
  kafka
    .command('stop')
    .description('stop the broker or the cluster this checkout started')
    .action(async () => {
      const single = await stopBroker({ root: ROOT, say })
      const nodes = await stopCluster({ root: ROOT, say })
      if (!single && nodes === 0) say('no broker started by this checkout is running')
    })
  kafka
    .command('status')
    .description('show whether the broker (and each node of a local cluster) runs and answers')
    .action(async () => {
      const status = await brokerStatus({ root: ROOT })
      const nodes = await clusterStatus({ root: ROOT })
      say(`version   ${status.version}`)
      say(`process   ${status.running ? `running (pid ${status.pid})` : 'not running from this checkout'}`)
      say(`127.0.0.1:9092 ${status.reachable ? `answers (cluster ${status.clusterId})` : 'does not answer'}`)
      say(`log       ${status.logFile}`)
      for (const node of nodes) {
        const process = node.pid === undefined ? 'not running' : `running (pid ${node.pid})`
        const answer =
          node.brokersSeen === undefined
            ? 'does not answer'
            : `answers (cluster ${node.clusterId}, ${node.brokersSeen} of ${nodes.length} brokers registered)`
        say(`node ${node.nodeId}    ${node.listener} ${process}, ${answer}; log ${node.logFile}`)
      }
      const clusterUp = nodes.length > 0 && nodes.every((node) => node.brokersSeen === nodes.length)
      if (!status.reachable && !clusterUp) process.exitCode = 3
    })
  kafka
    .command('logs')
    .description("print the broker's log, or each cluster node's")
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <count>', 'lines from the end', '100')
    .action(async (options: { follow?: boolean; lines: string }) => {
      const lines = Number(options.lines)
      if (!Number.isInteger(lines) || lines < 1)
        throw new PayrailError('USAGE', `--lines must be a positive integer (got ${options.lines})`)
      const single = brokerLogFile(ROOT)
      const layout = recordedLayout({ root: ROOT })
      const files = [
        ...(existsSync(single) ? [{ name: 'single broker', file: single }] : []),
        ...(layout?.nodes ?? [])
          .map((node) => ({ name: `node ${node.nodeId}`, file: nodePaths(node.dir).log }))
          .filter((entry) => existsSync(entry.file)),
      ]
      if (files.length === 0)
        throw new PayrailError('NOT_FOUND', `no broker log yet at ${single}; run \`payrail kafka start\``)
      if (options.follow) {
        // tail prints a "==> file <==" heading before each file's lines when it follows several.
        const tail = spawn('tail', ['-n', String(lines), '-f', ...files.map((entry) => entry.file)], {
          stdio: 'inherit',
        })
        await new Promise((resolve) => tail.on('exit', resolve))
        return
      }
      for (const entry of files) printLog(entry.file, lines, files.length > 1 ? entry.name : undefined)
    })
}
