import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { BUNDLED_SOURCES, ensureWebBuild } from '../../src/cli/web-build.ts'

test('the dashboard is built when web/ changed and only then', { timeout: 120_000 }, () => {
  // A copy of the project's web/, the src/ it bundles and lockfile beside its node_modules, so the real build runs
  // without touching the project's web/dist.
  const root = mkdtempSync(join(tmpdir(), 'payrail-web-build-'))
  cpSync(join(ROOT, 'web'), join(root, 'web'), {
    recursive: true,
    filter: (source) => !source.includes(`${join('web', 'dist')}`) && !source.includes('.dist-'),
  })
  for (const path of BUNDLED_SOURCES) cpSync(join(ROOT, path), join(root, path), { recursive: true })
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(ROOT, file), join(root, file))
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'))
  const said: string[] = []
  const say = (line: string) => said.push(line)

  assert.deepEqual(ensureWebBuild(root, say), { built: true })
  const index = readFileSync(join(root, 'web', 'dist', 'index.html'), 'utf8')
  assert.match(index, /<script type="module" crossorigin src="\.\/assets\/index-[\w-]+\.js"><\/script>/)
  assert.doesNotMatch(index, /<script>|<style>/, 'no inline script or style: the CSP forbids them')
  assert.deepEqual(ensureWebBuild(root, say), { built: false }, 'nothing changed')

  writeFileSync(
    join(root, 'web', 'src', 'styles.css'),
    `${readFileSync(join(root, 'web', 'src', 'styles.css'))}\n.x{}\n`,
  )
  assert.deepEqual(ensureWebBuild(root, say), { built: true }, 'a source changed')
  assert.equal(said.filter((line) => line.includes('building')).length, 2)
  assert.equal(existsSync(join(root, 'web', `.dist-${process.pid}`)), false, 'the staging folder is gone')
})
