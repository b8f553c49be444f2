import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { PayrailError } from '../../domain/errors.ts'
import { ROOT } from '../context.ts'

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark from bench/<name> and print its figures (e.g. `payrail bench api`)')
    .argument('<name>', 'the benchmark: a folder of bench/ with a run.ts')
    .argument('[options...]', "the benchmark's own options, after --")
    .allowUnknownOption()
    .action((name: string, options: string[]) => {
      const script = join(ROOT, 'bench', name, 'run.ts')
      if (!/^[a-z-]+$/.test(name) || !existsSync(script)) {
        throw new PayrailError('USAGE', `no benchmark named ${JSON.stringify(name)} (see bench/)`)
      }
      const result = spawnSync(process.execPath, [script, ...options], { cwd: ROOT, stdio: 'inherit' })
      if (result.status !== 0)
        throw new PayrailError(
          'INTERNAL',
          `benchmark ${name} failed (exit ${result.status ?? result.signal})`,
        )
    })
}
