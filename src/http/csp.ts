/**
 * The Content-Security-Policy of the dashboard's files, wherever they are served from: scripts,
 * styles and images only from the dashboard's own origin (the build has no inline script or
 * style), calls only to the API, no plugins, frames, forms or base-URI tricks. `connectTo` is
 * the API's origin, or `'self'` when the API is on the same origin (the gateway serving `/`).
 */
export function dashboardCsp(connectTo: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    // The page's blank favicon is a data: URL, so the browser asks for no /favicon.ico.
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connectTo === "'self'" ? "'self'" : `'self' ${connectTo}`}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ')
}

/** Headers for every dashboard answer besides the CSP. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

/** @fastify/static's `setHeaders` for the dashboard's files: the CSP and DASHBOARD_HEADERS. */
export function dashboardFileHeaders(
  connectTo: string,
): (reply: { header(name: string, value: string): unknown }) => void {
  const csp = dashboardCsp(connectTo)
  return (reply) => {
    reply.header('content-security-policy', csp)
    for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) reply.header(name, value)
  }
}
