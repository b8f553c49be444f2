/**
 * The load command's option texts turned into values, each refusing bad text with USAGE naming
 * the option: durations (`500ms`, `3s`, `2m`), stages (`0-400/30s,400/60s`), the mix weights,
 * scrape targets (`api=http://127.0.0.1:8081`), and the presets of the original system's two k6
 * runs.
 */
import { PayrailError } from '../domain/errors.ts'
import type { Stage } from './schedule.ts'

const usage = (message: string) => new PayrailError('USAGE', message)

export function parseDuration(name: string, text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(text.trim())
  const value =
    match === null
      ? Number.NaN
      : Number(match[1]) * (match[2] === 'ms' ? 1 : match[2] === 'm' ? 60_000 : 1000)
  if (!(value > 0)) throw usage(`${name} must be a positive duration such as 500ms, 15s or 2m (got ${text})`)
  return value
}

export function parseRate(name: string, text: string): number {
  const value = Number(text)
  if (!(Number.isFinite(value) && value > 0 && value <= 1_000_000))
    throw usage(`${name} must be a rate per second above 0, at most 1000000 (got ${text})`)
  return value
}

/** `RATE/DURATION` holds a rate, `FROM-TO/DURATION` ramps, comma-separated. */
export function parseStages(text: string): Stage[] {
  return text.split(',').map((part) => {
    const match = /^\s*([0-9.]+)(?:-([0-9.]+))?\/(\S+)\s*$/.exec(part)
    if (match === null)
      throw usage(
        `--stages: ${JSON.stringify(part)} is not RATE/DURATION or FROM-TO/DURATION (e.g. 0-400/30s,400/60s)`,
      )
    const from = Number(match[1])
    const to = match[2] === undefined ? from : Number(match[2])
    if (!(Number.isFinite(from) && Number.isFinite(to) && from >= 0 && to >= 0 && from + to > 0))
      throw usage(`--stages: ${JSON.stringify(part)} needs rates ≥ 0, not both 0`)
    return { from, to, durationMs: parseDuration('--stages', match[3] as string) }
  })
}

export function parseMix(text: string): { authorize: number; read: number; flow: number } {
  const mix = { authorize: 0, read: 0, flow: 0 }
  for (const part of text.split(',')) {
    const [name, weight] = part.split('=')
    const value = Number(weight)
    if (!(name === 'authorize' || name === 'read' || name === 'flow') || !(value >= 0))
      throw usage(`--mix: ${JSON.stringify(part)} is not authorize=N, read=N or flow=N`)
    mix[name] = value
  }
  if (mix.authorize + mix.read + mix.flow <= 0) throw usage('--mix needs a weight above 0')
  return mix
}

export function parseScrape(text: string): { role: string; url: string } {
  const match = /^([a-z][a-z0-9-]*)=(https?:\/\/\S+)$/.exec(text)
  if (match === null) throw usage(`--scrape takes ROLE=URL, e.g. api=http://127.0.0.1:8081 (got ${text})`)
  return { role: match[1] as string, url: match[2] as string }
}

/**
 * The original system's two k6 runs. Their scripts are not part of this repository; the shapes
 * (a ramp to 400/s, then a hold; 1,050/s constant) are theirs, the stage lengths are ours.
 */
export const PRESETS: Record<string, { scenario: 'authorize'; stages: Stage[]; about: string }> = {
  'ramp-400': {
    scenario: 'authorize',
    stages: [
      { from: 0, to: 400, durationMs: 30_000 },
      { from: 400, to: 400, durationMs: 60_000 },
      { from: 400, to: 0, durationMs: 10_000 },
    ],
    about: 'ramp 0→400/s over 30 s, hold 60 s, down over 10 s',
  },
  'constant-1050': {
    scenario: 'authorize',
    stages: [{ from: 1050, to: 1050, durationMs: 60_000 }],
    about: '1,050/s for 60 s',
  },
}

export function presetOf(name: string): (typeof PRESETS)[string] {
  const preset = PRESETS[name]
  if (preset === undefined)
    throw usage(`--preset must be one of ${Object.keys(PRESETS).join(', ')} (got ${name})`)
  return preset
}

/** A small seeded generator (mulberry32): a run's amounts and draws repeat with its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
