import { writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { type ChaosOptions, resolveChaosOptions } from '../../chaos/options.ts'
import { chaosHtml, chaosTable } from '../../chaos/report.ts'
import { runScenario, type ScenarioResult } from '../../chaos/run.ts'
import { FULL, SCENARIOS, SMOKE, scenarioSeed } from '../../chaos/scenarios.ts'
import { PayrailError } from '../../domain/errors.ts'
import { parseDuration } from '../../load/options.ts'
import { countOption, ROOT, say } from '../context.ts'

export function registerChaos(program: Command): void {
  program
    .command('chaos')
    .description(
      'faults under steady flow load on a private platform (its own broker, database and roles), then the invariants; the smoke by default, every scenario with --full',
    )
    .option('--full', 'run every scenario (see --list), longer')
    .option('--scenario <names>', 'only these scenarios, comma-separated')
    .option('--list', 'list the scenarios and exit')
    .option('--rate <n>', 'flows started per second (default: 5, full: 10)')
    .option('--duration <d>', 'how long each scenario’s load runs (default: 20s, full: 90s)')
    .option('--merchants <n>', 'merchants created per scenario (default: 2)')
    .option('--down <d>', 'how long a killed role stays down (default: 1s)')
    .option('--heal-timeout <d>', 'bound on each recovery wait after the load (default: 60s, full: 120s)')
    .option('--seed <n>', 'random seed (printed; default: random)')
    .option('--out <file>', 'write the JSON result there')
    .option('--html <file>', 'write a self-contained HTML report there')
    .action(async (flags: Record<string, string | boolean | undefined>) => {
      if (flags.list === true) {
        for (const scenario of SCENARIOS) say(`${scenario.name.padEnd(26)} ${scenario.about}`)
        return
      }
      const text = (name: string) => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined)
      const given: Partial<ChaosOptions> = { full: flags.full === true }
      if (text('scenario') !== undefined)
        given.scenarios = (text('scenario') as string).split(',').map((s) => s.trim())
      if (text('rate') !== undefined) given.rate = countOption('--rate', text('rate') as string, 1, 1000)
      if (text('duration') !== undefined)
        given.durationMs = parseDuration('--duration', text('duration') as string)
      if (text('merchants') !== undefined)
        given.merchants = countOption('--merchants', text('merchants') as string, 1, 1000)
      if (text('down') !== undefined) given.downMs = parseDuration('--down', text('down') as string)
      if (text('healTimeout') !== undefined)
        given.healTimeoutMs = parseDuration('--heal-timeout', text('healTimeout') as string)
      given.seed =
        text('seed') === undefined
          ? Math.floor(Math.random() * 2 ** 31)
          : countOption('--seed', text('seed') as string, 0, 2 ** 31)
      const options = resolveChaosOptions(given)
      const catalog = options.full ? FULL : [SMOKE]
      const unknown = options.scenarios.filter((name) => !SCENARIOS.some((s) => s.name === name))
      if (unknown.length > 0)
        throw new PayrailError(
          'USAGE',
          `unknown chaos scenario ${unknown.join(', ')}; see payrail chaos --list`,
        )
      const chosen =
        options.scenarios.length > 0 ? SCENARIOS.filter((s) => options.scenarios.includes(s.name)) : catalog
      say(
        `chaos: ${chosen.map((s) => s.name).join(', ')}; ${options.rate} flows/s for ${options.durationMs / 1000} s each; seed ${options.seed}`,
      )
      const startedAt = new Date().toISOString()
      const results: ScenarioResult[] = []
      for (const scenario of chosen) {
        const seed = scenarioSeed(options.seed, scenario.name)
        // A scenario that cannot run (a server that will not start) fails as such; the rest go on.
        const result = await runScenario(scenario, {
          root: ROOT,
          rate: options.rate,
          durationMs: options.durationMs,
          merchants: options.merchants,
          seed,
          downMs: options.downMs,
          healTimeoutMs: options.healTimeoutMs,
          say,
        }).catch(
          (error: Error): ScenarioResult => ({
            scenario: scenario.name,
            about: scenario.about,
            dialect: scenario.dialect ?? 'sqlite',
            kafkaNodes: scenario.kafkaNodes ?? 1,
            seed,
            rate: options.rate,
            durationMs: options.durationMs,
            timeline: [],
            answers: {},
            seconds: [],
            invariants: [{ name: 'ran', passed: false, figures: {}, detail: error.message }],
            passed: false,
          }),
        )
        results.push(result)
        say(chaosTable([result]))
      }
      if (results.length > 1) say(`\n${chaosTable(results)}`)
      const passed = results.every((r) => r.passed)
      const report = { seed: options.seed, startedAt, scenarios: results, passed }
      if (text('out') !== undefined)
        writeFileSync(text('out') as string, `${JSON.stringify(report, null, 2)}\n`)
      if (text('html') !== undefined) writeFileSync(text('html') as string, chaosHtml(report))
      say(passed ? 'every invariant held' : 'an invariant FAILED')
      if (!passed) process.exitCode = 1
    })
}
