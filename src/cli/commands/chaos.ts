import { writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { chaosTable, runSmoke } from '../../chaos/smoke.ts'
import { parseDuration } from '../../load/options.ts'
import { countOption, say } from '../context.ts'

export function registerChaos(program: Command): void {
  program
    .command('chaos')
    .description(
      'start a private platform (SQLite in a temp dir), run steady flow load, kill -9 each role once, then check the invariants',
    )
    .option('--rate <n>', 'flows started per second', '10')
    .option('--duration <d>', 'how long the load runs (e.g. 30s)', '30s')
    .option('--merchants <n>', 'merchants created for the run', '2')
    .option('--down <d>', 'how long a killed role stays down', '1s')
    .option('--heal-timeout <d>', 'bound on healing after the load stops', '60s')
    .option('--seed <n>', 'random seed (printed; default: random)')
    .option('--out <file>', 'write the JSON result there')
    .action(async (flags: Record<string, string | undefined>) => {
      const seed =
        flags.seed === undefined
          ? Math.floor(Math.random() * 2 ** 31)
          : countOption('--seed', flags.seed, 0, 2 ** 31)
      say(`chaos smoke, seed ${seed}`)
      const result = await runSmoke({
        brokers: process.env.KAFKA_BROKERS || '127.0.0.1:9092',
        rate: countOption('--rate', flags.rate ?? '10', 1, 10_000),
        durationMs: parseDuration('--duration', flags.duration ?? '30s'),
        merchants: countOption('--merchants', flags.merchants ?? '2', 1, 1000),
        seed,
        downMs: parseDuration('--down', flags.down ?? '1s'),
        healTimeoutMs: parseDuration('--heal-timeout', flags.healTimeout ?? '60s'),
        say,
      })
      say(chaosTable(result))
      if (flags.out !== undefined) writeFileSync(flags.out, `${JSON.stringify(result, null, 2)}\n`)
      if (!result.passed) process.exitCode = 1
    })
}
