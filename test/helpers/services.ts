import type { TestContext } from 'node:test'
import { type SystemTool, systemTools, whichTool } from '../../src/cli/system-tools.ts'
import {
  probeTestService,
  type TestService,
  testServices,
  testServiceUrl,
} from '../../src/cli/test-services.ts'
import { ensureTopicsOn } from '../../src/kafka/topics.ts'

const probes = new Map<TestService, Promise<string | undefined>>()

/**
 * Every role ensures the topics of DESIGN.md at start-up; components under test get the same,
 * so a test of the DLQ does not depend on another test having created payment.dlq.
 */
async function prepare(service: TestService): Promise<void> {
  await probeTestService(service)
  if (service !== 'kafka') return
  await ensureTopicsOn({ brokers: testServiceUrl('kafka').split(','), clientId: 'payrail-test' })
}

function probeOnce(service: TestService): Promise<string | undefined> {
  let probe = probes.get(service)
  if (probe === undefined) {
    probe = prepare(service).then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    )
    probes.set(service, probe)
  }
  return probe
}

/**
 * The URL of a real server for this test. When it does not answer, CI fails the test (a server
 * CI has must never be skipped silently); elsewhere the test is skipped, naming the server.
 */
export async function requireService(t: TestContext, service: TestService): Promise<string | undefined> {
  const url = testServiceUrl(service)
  const problem = await probeOnce(service)
  if (problem === undefined) return url
  const message = `${testServices[service].label} at ${url} does not answer (${problem}); set ${testServices[service].variable}`
  if (process.env.CI === 'true') throw new Error(message)
  t.skip(message)
  return undefined
}

/**
 * The path of a program from Debian's packages that this test runs (`payrail test` installs it
 * when missing). Missing in CI fails the test; elsewhere the test is skipped, naming it.
 */
export function requireTool(t: TestContext, tool: SystemTool): string | undefined {
  const path = whichTool(tool)
  if (path !== undefined) return path
  const message = `${systemTools[tool].label} is not on PATH (Debian package ${systemTools[tool].package}; ./payrail test installs it as root)`
  if (process.env.CI === 'true') throw new Error(message)
  t.skip(message)
  return undefined
}
