import { PayrailError } from '../domain/errors.ts'

/**
 * Start-up checks of a component's options. A bad value stops the process with CONFIG_INVALID
 * naming the component, the field and the form expected, before any request is taken.
 */
export function checkInteger(
  component: string,
  field: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PayrailError(
      'CONFIG_INVALID',
      `${component}.${field}=${String(value)}: must be a whole number from ${min} to ${max}`,
    )
  }
  return value
}

export function checkFraction(component: string, field: string, value: number): number {
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new PayrailError(
      'CONFIG_INVALID',
      `${component}.${field}=${String(value)}: must be a fraction from 0 to 1`,
    )
  }
  return value
}

export function checkUrl(component: string, field: string, value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new PayrailError(
      'CONFIG_INVALID',
      `${component}.${field}=${JSON.stringify(value)}: must be an http(s) URL`,
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PayrailError(
      'CONFIG_INVALID',
      `${component}.${field}=${JSON.stringify(value)}: must be an http(s) URL`,
    )
  }
  return url
}
