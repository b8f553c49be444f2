import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../../src/cli/context.ts'
import { variableNames } from '../../src/config/load.ts'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')

test('the README starts with the two commands: run the platform, run the tests', () => {
  const blocks = [...readme.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].map((match) => match[1]?.trim())
  assert.deepEqual(blocks.slice(0, 2), ['./payrail up', './payrail test'])
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8')
  assert.match(ci, /^\.\/payrail test$/m, '.ci/run calls the README test command')
})

test('the README configuration table lists every variable payrail reads', () => {
  for (const name of variableNames) {
    assert.match(readme, new RegExp(`^\\| \`${name}\` \\|`, 'm'), `${name} is documented`)
  }
})
