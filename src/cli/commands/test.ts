import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { PayrailError } from '../../domain/errors.ts'
import { startBroker, stopBroker } from '../../kafka/local-broker/broker.ts'
import { ROOT, say, warn } from '../context.ts'
import { ensureSystemTools, type SystemTool, systemTools } from '../system-tools.ts'
import { probeTestService, type TestService, testServices, testServiceUrl } from '../test-services.ts'
import { ensureWebBuild } from '../web-build.ts'

/** Longest time one test may take. */
const TEST_TIMEOUT_MS = 240_000

interface TestOptions {
  lint: boolean
  typecheck: boolean
}

function run(label: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  say(`\n== ${label}`)
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env })
  if (result.status !== 0) {
    throw new PayrailError('USAGE', `${label} failed (exit ${result.status ?? result.signal})`)
  }
}

/**
 * The one test command (README, `.ci/run`): type check, lint, then every test against real
 * servers. With CI=true a server that does not answer fails the run; elsewhere its tests skip
 * and say which server was missing.
 */
export function registerTest(program: Command): void {
  program
    .command('test')
    .description('type check, lint, and run every test against the real Kafka, MariaDB, PostgreSQL and Redis')
    .argument('[files...]', 'test files to run instead of all of test/')
    .option('--no-lint', 'skip the linter')
    .option('--no-typecheck', 'skip the type check')
    .action(async (files: string[], options: TestOptions) => {
      const ci = process.env.CI === 'true'
      if (options.typecheck) {
        run('type check (tsc)', join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'])
        // k6 cannot run here; its scripts are at least checked against k6's own types.
        run('type check of deploy/k6 (tsc, @types/k6)', join(ROOT, 'node_modules', '.bin', 'tsc'), [
          '-p',
          join('deploy', 'k6', 'tsconfig.json'),
        ])
        run('type check of web/ (tsc, DOM and Preact)', join(ROOT, 'node_modules', '.bin', 'tsc'), [
          '-p',
          join('web', 'tsconfig.json'),
        ])
      }
      if (options.lint)
        run('lint and format (biome)', join(ROOT, 'node_modules', '.bin', 'biome'), ['check', '.'])

      // The browser tests and every `payrail up` of the tests serve web/dist: built once here.
      ensureWebBuild(ROOT, say)

      say('\n== services')
      let brokerStartedHere = false
      try {
        if ((process.env.KAFKA_BROKERS ?? '') === '') {
          brokerStartedHere = (await startBroker({ root: ROOT, say })).started
        }
        const missing: string[] = []
        for (const service of Object.keys(testServices) as TestService[]) {
          const url = testServiceUrl(service)
          try {
            await probeTestService(service)
            say(`${testServices[service].label.padEnd(10)} ${url}`)
          } catch (error) {
            const reason = error instanceof Error ? error.message : String(error)
            missing.push(
              `${testServices[service].label} at ${url} (${reason}; set ${testServices[service].variable})`,
            )
          }
        }
        // Programs from Debian's packages (promtool, Prometheus, docker-compose): installed here
        // when missing, so that a new machine runs the rule, monitoring and compose tests too.
        const tools = Object.keys(systemTools) as SystemTool[]
        const absent = ensureSystemTools(tools)
        for (const tool of tools)
          if (!absent.some((entry) => entry.tool === tool)) say(`${tool.padEnd(10)} on PATH`)
        for (const { tool, reason } of absent) missing.push(`${systemTools[tool].label} (${reason})`)
        if (missing.length > 0) {
          if (ci)
            throw new PayrailError(
              'DEPENDENCY_MISSING',
              `CI needs every server and program; missing: ${missing.join('; ')}`,
            )
          for (const line of missing) warn(`${line} is missing: its tests will be skipped`)
        }

        // node --test takes files and globs, not folders: a folder means every test file in it.
        const targets =
          files.length > 0
            ? files.map((file) =>
                existsSync(file) && statSync(file).isDirectory()
                  ? `${file.replace(/\/+$/, '')}/**/*.test.ts`
                  : file,
              )
            : ['test/**/*.test.ts']
        // A per-test limit, so that a regression that hangs fails the run instead of holding CI until
        // its own limit: the longest test (Kafka stopped for 30 s, then a drain) takes about 100 s here.
        run('tests (node --test)', process.execPath, [
          '--test',
          '--test-concurrency=2',
          `--test-timeout=${TEST_TIMEOUT_MS}`,
          ...targets,
        ])
      } finally {
        if (brokerStartedHere) await stopBroker({ root: ROOT, say })
      }
    })
}
