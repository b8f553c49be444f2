import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { PayrailError } from '../domain/errors.ts'

/**
 * The parts of src/ whose values the app bundles (the payment statuses, the webhook event types);
 * its other src/ imports are types, which the build drops. Relative to the project's root.
 */
export const BUNDLED_SOURCES = [join('src', 'domain'), join('src', 'webhooks', 'event-types.ts')] as const

/** The files a build is made from: the app's sources, its configuration, the lockfile and BUNDLED_SOURCES. */
function sourcesOf(root: string): string[] {
  const web = join(root, 'web')
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true })
      .flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)]))
      .sort()
  return [
    join(web, 'index.html'),
    join(web, 'vite.config.ts'),
    join(root, 'package-lock.json'),
    ...(existsSync(join(web, 'public')) ? walk(join(web, 'public')) : []),
    ...walk(join(web, 'src')),
    ...BUNDLED_SOURCES.flatMap((path) =>
      path.endsWith('.ts') ? [join(root, path)] : walk(join(root, path)),
    ),
  ]
}

/** A digest of the sources' names and contents: the build is current when its stamp holds it. */
export function webSourcesDigest(root: string): string {
  const hash = createHash('sha256')
  for (const file of sourcesOf(root))
    hash.update(relative(root, file)).update('\0').update(readFileSync(file))
  return hash.digest('hex')
}

const STAMP = '.payrail-build'

/**
 * Builds the dashboard (web/ → web/dist) with Vite when its sources changed since the last
 * build, and does nothing otherwise (a digest of ~30 small files: a few ms). The build goes to a
 * folder of its own and then takes web/dist's place, so that a gateway serving web/dist never
 * sees half a build; a build takes about 1 s here. Without web/src (an image that carries only
 * the build) there is nothing to do.
 */
export function ensureWebBuild(root: string, say: (line: string) => void): { built: boolean } {
  const dist = join(root, 'web', 'dist')
  // An image carries the build without its sources: nothing to build there.
  if (!existsSync(join(root, 'web', 'src'))) return { built: false }
  const digest = webSourcesDigest(root)
  const stampFile = join(dist, STAMP)
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === digest) return { built: false }
  say('dashboard: building web/ with Vite')
  const staging = join(root, 'web', `.dist-${process.pid}`)
  const result = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules', 'vite', 'bin', 'vite.js'),
      'build',
      '--outDir',
      staging,
      '--config',
      join(root, 'web', 'vite.config.ts'),
    ],
    { cwd: root, encoding: 'utf8', timeout: 120_000 },
  )
  if (result.status !== 0) {
    rmSync(staging, { recursive: true, force: true })
    throw new PayrailError(
      'INTERNAL',
      `the dashboard build (vite build) failed: ${`${result.stderr ?? ''}${result.stdout ?? ''}`.trim().slice(-2000) || result.error?.message}`,
    )
  }
  writeFileSync(join(staging, STAMP), digest)
  rmSync(dist, { recursive: true, force: true })
  try {
    renameSync(staging, dist)
  } catch (error) {
    // Another process (roles started at once) put its build of the same sources there first.
    if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error
    rmSync(staging, { recursive: true, force: true })
  }
  return { built: true }
}
