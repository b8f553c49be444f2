import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { PayrailError } from '../../domain/errors.ts'
import { brokerLogFile, brokerStatus, startBroker, stopBroker } from '../../kafka/local-broker/broker.ts'
import { config, ROOT, say } from '../context.ts'

function refuseWhenExternal(): void {
  const brokers = config().KAFKA_BROKERS
  if (brokers !== '') {
    throw new PayrailError(
      'USAGE',
      `KAFKA_BROKERS is set (${brokers}); payrail uses that cluster and runs no local broker`,
    )
  }
}

export function registerKafka(program: Command): void {
  const kafka = program
    .command('kafka')
    .description('run the local single-node Kafka broker (KRaft) on 127.0.0.1:9092')
  kafka
    .command('start')
    .description('fetch the broker once from Maven Central, then start it and wait until it serves metadata')
    .action(async () => {
      refuseWhenExternal()
      const started = Date.now()
      const result = await startBroker({ root: ROOT, say })
      if (result.started)
        say(`Kafka is ready on 127.0.0.1:9092 after ${Date.now() - started} ms (pid ${result.pid})`)
    })
  kafka
    .command('stop')
    .description('stop the broker this checkout started')
    .action(async () => {
      if (!(await stopBroker({ root: ROOT, say }))) say('no broker started by this checkout is running')
    })
  kafka
    .command('status')
    .description('show whether the broker runs and answers')
    .action(async () => {
      const status = await brokerStatus({ root: ROOT })
      say(`version   ${status.version}`)
      say(`process   ${status.running ? `running (pid ${status.pid})` : 'not running from this checkout'}`)
      say(`127.0.0.1:9092 ${status.reachable ? `answers (cluster ${status.clusterId})` : 'does not answer'}`)
      say(`log       ${status.logFile}`)
      if (!status.reachable) process.exitCode = 3
    })
  kafka
    .command('logs')
    .description("print the broker's log")
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <count>', 'lines from the end', '100')
    .action(async (options: { follow?: boolean; lines: string }) => {
      const lines = Number(options.lines)
      if (!Number.isInteger(lines) || lines < 1)
        throw new PayrailError('USAGE', `--lines must be a positive integer (got ${options.lines})`)
      const file = brokerLogFile(ROOT)
      if (!existsSync(file))
        throw new PayrailError('NOT_FOUND', `no broker log yet at ${file}; run \`payrail kafka start\``)
      if (options.follow) {
        const tail = spawn('tail', ['-n', String(lines), '-f', file], { stdio: 'inherit' })
        await new Promise((resolve) => tail.on('exit', resolve))
        return
      }
      process.stdout.write(
        `${readFileSync(file, 'utf8')
          .split('\n')
          .slice(-lines - 1)
          .join('\n')}`,
      )
    })
}
