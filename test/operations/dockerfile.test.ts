import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { isBuiltin } from 'node:module'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { ROOT } from '../../src/cli/context.ts'
import { freePort, startAcquirer } from '../../support/processes.ts'

// No container engine here to build the image: these tests read the Dockerfile and check what a
// build would otherwise find out late, or never (a dev dependency the runtime needs is missing
// only once a role imports it in production).

interface Instruction {
  keyword: string
  args: string
}

/** The instructions of the Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line))
  const joined = lines.join('\n').replace(/\\\n/g, ' ')
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/)
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') }
    })
}

const dockerfile = instructions(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
/** The instructions of the last stage: what the image runs. */
const finalStage = dockerfile.slice(dockerfile.findLastIndex((instruction) => instruction.keyword === 'FROM'))
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  type: string
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}

const of = (keyword: string, stage = dockerfile) =>
  stage.filter((instruction) => instruction.keyword === keyword)
const words = (args: string) => args.split(/\s+/).filter((word) => !word.startsWith('--'))

test('every stage is an official Node 24 image; the last one installs nothing and has no compiler', () => {
  for (const from of of('FROM')) assert.match(from.args, /^node:24(-[a-z]+)*(\s|$)/, `FROM ${from.args}`)
  assert.match(of('FROM', finalStage)[0]?.args ?? '', /^node:24-bookworm-slim\b/)
  for (const run of of('RUN', finalStage))
    assert.doesNotMatch(run.args, /\b(npm|apt-get|apt)\b/, `RUN ${run.args}`)
  assert.ok(
    of('RUN').some((run) => /\bnpm ci\b.*--omit=dev/.test(run.args)),
    'the dependencies are installed with npm ci --omit=dev',
  )
  assert.equal(packageJson.type, 'module', 'package.json makes src/*.ts ES modules; the image copies it')
})

test('every COPY source is in the repository and not excluded by .dockerignore', () => {
  const copies = of('COPY').filter((copy) => !copy.args.includes('--from='))
  assert.ok(copies.length > 0)
  for (const copy of copies) {
    const paths = words(copy.args)
    for (const source of paths.slice(0, -1)) {
      assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: not in the repository`)
      const top = source.replace(/^\.\//, '').split('/')[0] ?? ''
      assert.ok(!ignored.includes(top), `COPY ${source}: .dockerignore excludes it`)
    }
  }
  const copied = copies.flatMap((copy) => words(copy.args).slice(0, -1))
  assert.ok(
    copied.includes('src') && copied.includes('package.json'),
    'the image holds src/ and package.json',
  )
  for (const absent of ['test', 'bench', 'support', 'tools'])
    assert.ok(!copied.includes(absent), `${absent}/ stays out`)
})

test('.dockerignore keeps local state, tests and benchmarks out of the build context', () => {
  for (const name of ['node_modules', '.payrail', '.git', 'test', 'bench', '.env'])
    assert.ok(ignored.includes(name), `.dockerignore lists ${name}`)
})

test('the image runs as a user other than root, with a health check on the role port, and a role as command', () => {
  const users = of('USER', finalStage)
  assert.ok(users.length > 0, 'the last stage sets USER')
  assert.doesNotMatch(users.at(-1)?.args ?? '', /^(root|0)(:|$)/)
  const health = of('HEALTHCHECK', finalStage)
  assert.equal(health.length, 1, 'one HEALTHCHECK')
  assert.match(health[0]?.args ?? '', /CMD .*process\.env\.HEALTH_PORT.*\/readyz/)
  assert.ok(
    of('ENV', finalStage).some((env) => /\bHEALTH_PORT=\d+/.test(env.args)),
    'HEALTH_PORT has a default',
  )
  assert.deepEqual(JSON.parse(of('ENTRYPOINT', finalStage)[0]?.args ?? '[]'), ['node', 'src/cli/main.ts'])
  const [role] = JSON.parse(of('CMD', finalStage)[0]?.args ?? '[]') as string[]
  const roles = readFileSync(join(ROOT, 'src', 'cli', 'commands', 'roles.ts'), 'utf8')
  assert.match(roles, new RegExp(`\\.command\\('${role}'\\)`), `CMD ${role} is a role`)
})

/** Packages a file loads when it runs: type-only imports are erased and need nothing. */
function runtimePackages(text: string): string[] {
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'"]*?\bfrom\s+'([^']+)'/gms),
    ...text.matchAll(/^\s*import\s+'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
  ].map((match) => match[1] as string)
  return specifiers
    .filter((specifier) => !specifier.startsWith('.') && !isBuiltin(specifier))
    .map((specifier) => {
      const parts = specifier.split('/')
      return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string)
    })
}

test('src/ loads only packages of `dependencies`, the ones npm ci --omit=dev installs', () => {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>
  }
  const problems: string[] = []
  const loaded = new Set<string>()
  const src = join(ROOT, 'src')
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')))
    for (const name of runtimePackages(readFileSync(join(src, file), 'utf8'))) {
      const where = `src/${file}`
      loaded.add(name)
      if (packageJson.dependencies[name] === undefined)
        problems.push(
          `${where} imports ${name}, which is ${packageJson.devDependencies[name] ? 'a dev dependency' : 'not a dependency'}`,
        )
      else if (lock.packages[`node_modules/${name}`]?.dev === true)
        problems.push(`${where} imports ${name}, which package-lock.json marks dev`)
    }
  assert.deepEqual([...new Set(problems)], [])
  assert.ok(
    loaded.has('fastify') && loaded.has('kysely'),
    `the scan finds the imports (${[...loaded].join(', ')})`,
  )
})

/** Runs a health check command (node and its arguments) the way the container would; its exit code. */
async function exitCodeOf(args: string[], env: Record<string, string> = {}): Promise<number | null> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: 'ignore' })
  const [code] = (await once(child, 'exit')) as [number | null]
  return code
}

test("the image's and the compose files' health checks pass on a ready role, fail on 503 and on a closed port", async () => {
  const health = of('HEALTHCHECK', finalStage)[0]?.args ?? ''
  const [node, ...imageArgs] = JSON.parse(health.slice(health.indexOf('CMD') + 3)) as string[]
  assert.equal(node, 'node')
  const composeProbe =
    (parse(readFileSync(join(ROOT, 'deploy', 'compose', 'services.yml'), 'utf8')) as Record<string, string>)[
      'x-readyz'
    ] ?? ''
  const image = (port: number) => exitCodeOf(imageArgs, { HEALTH_PORT: String(port) })
  const compose = (port: number) => exitCodeOf(['-e', composeProbe, String(port)])

  const acquirer = await startAcquirer()
  const notReady = createServer((_request, response) => response.writeHead(503).end('{"status":"not ready"}'))
  try {
    const ready = Number(new URL(acquirer.url).port)
    assert.deepEqual([await image(ready), await compose(ready)], [0, 0], 'a ready role is healthy')
    notReady.listen(0, '127.0.0.1')
    await once(notReady, 'listening')
    const unready = (notReady.address() as AddressInfo).port
    assert.deepEqual(
      [await image(unready), await compose(unready)],
      [1, 1],
      'a 503 from /readyz is unhealthy',
    )
    const closed = await freePort()
    assert.deepEqual([await image(closed), await compose(closed)], [1, 1], 'a closed port is unhealthy')
  } finally {
    notReady.close()
    await acquirer.stop()
  }
})
