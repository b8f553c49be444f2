import { isIP } from 'node:net'
import type { Kysely, Selectable } from 'kysely'
import type { Database, WebhookEndpointTable } from '../db/schema.ts'
import { PayrailError } from '../domain/errors.ts'
import { newId } from '../domain/ids.ts'
import { checkAddress } from './address-guard.ts'
import { isWebhookEventType, WEBHOOK_EVENT_TYPES, type WebhookEventType } from './event-types.ts'
import type { SecretBox } from './secrets.ts'
import { newSigningSecret } from './signing.ts'

export interface UrlPolicy {
  /** Accept http: URLs. Default: false (WEBHOOK_ALLOW_HTTP). */
  allowHttp: boolean
  /** Accept loopback, private, link-local and metadata hosts. Default: false (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean
}

/** What the API shows of an endpoint: never its secret. */
export interface EndpointView {
  id: string
  url: string
  eventTypes: WebhookEventType[]
  enabled: boolean
  disabledReason: string | null
  createdAt: string
  /** While a rolled secret's grace period runs: when the previous secret stops signing. */
  previousSecretValidUntil: string | null
}

/**
 * Checks an endpoint URL once, at creation: https (http only when allowed), no credentials in it,
 * and a host that is not a literal non-public address nor `localhost`. A host name is checked
 * again on every attempt, when it is resolved (address-guard.ts), since what it resolves to can
 * change after creation.
 */
export function checkEndpointUrl(text: string, policy: UrlPolicy): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new PayrailError('WEBHOOK_URL_REFUSED', 'url is not an absolute URL')
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp))
    throw new PayrailError(
      'WEBHOOK_URL_REFUSED',
      policy.allowHttp ? 'url must be http: or https:' : 'url must be https: (WEBHOOK_ALLOW_HTTP is off)',
    )
  if (url.username !== '' || url.password !== '')
    throw new PayrailError('WEBHOOK_URL_REFUSED', 'url must not carry credentials')
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host) !== 0) checkAddress(host, policy.allowPrivate, host)
  else if ((host === 'localhost' || host.endsWith('.localhost')) && !policy.allowPrivate)
    throw new PayrailError(
      'WEBHOOK_URL_REFUSED',
      `${host} is a loopback name; set WEBHOOK_ALLOW_PRIVATE=true to allow it`,
    )
  return url
}

export function checkEventTypes(types: readonly string[]): WebhookEventType[] {
  const unknown = types.filter((type) => !isWebhookEventType(type))
  if (unknown.length > 0 || types.length === 0)
    throw new PayrailError(
      'VALIDATION_FAILED',
      `eventTypes must name one or more of ${WEBHOOK_EVENT_TYPES.join(', ')}${unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''}`,
    )
  return [...new Set(types as WebhookEventType[])]
}

export function endpointView(row: Selectable<WebhookEndpointTable>, now: number): EndpointView {
  const until = row.previous_secret_until
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types.split(',') as WebhookEventType[],
    enabled: Number(row.enabled) === 1,
    disabledReason: row.disabled_reason,
    createdAt: new Date(Number(row.created_at)).toISOString(),
    previousSecretValidUntil:
      until !== null && Number(until) > now ? new Date(Number(until)).toISOString() : null,
  }
}

/** The endpoint, if it belongs to this merchant: another merchant's is as absent as a missing one. */
export async function findEndpoint(
  db: Kysely<Database>,
  merchantId: string,
  id: string,
): Promise<Selectable<WebhookEndpointTable>> {
  const row = await db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('id', '=', id)
    .where('merchant_id', '=', merchantId)
    .executeTakeFirst()
  if (row === undefined) throw new PayrailError('NOT_FOUND', `no webhook endpoint ${id}`)
  return row
}

export interface NewEndpoint {
  merchantId: string
  url: string
  eventTypes: WebhookEventType[]
  enabled: boolean
}

/** Creates an endpoint with a fresh signing secret; the secret is returned once and stored sealed. */
export async function createEndpoint(
  db: Kysely<Database>,
  box: SecretBox,
  endpoint: NewEndpoint,
  now: number,
): Promise<{ row: Selectable<WebhookEndpointTable>; secret: string }> {
  const secret = newSigningSecret()
  const row = {
    id: newId(),
    merchant_id: endpoint.merchantId,
    url: endpoint.url,
    event_types: endpoint.eventTypes.join(','),
    enabled: endpoint.enabled ? 1 : 0,
    secret: box.seal(secret),
    previous_secret: null,
    previous_secret_until: null,
    disabled_reason: null,
    failing_since: null,
    created_at: now,
    updated_at: now,
  }
  await db.insertInto('webhook_endpoints').values(row).execute()
  return { row, secret }
}

/** Enables or disables an endpoint; enabling clears the reason and the failure streak. */
export async function setEnabled(
  db: Kysely<Database>,
  merchantId: string,
  id: string,
  enabled: boolean,
  now: number,
): Promise<void> {
  await findEndpoint(db, merchantId, id)
  await db
    .updateTable('webhook_endpoints')
    .set(
      enabled
        ? { enabled: 1, disabled_reason: null, failing_since: null, updated_at: now }
        : { enabled: 0, disabled_reason: 'disabled by the merchant', updated_at: now },
    )
    .where('id', '=', id)
    .execute()
}

/** A new secret; the current one keeps signing (as a second `v1`) for `graceMs`. */
export async function rollSecret(
  db: Kysely<Database>,
  box: SecretBox,
  merchantId: string,
  id: string,
  graceMs: number,
  now: number,
): Promise<{ secret: string; previousValidUntil: number }> {
  const row = await findEndpoint(db, merchantId, id)
  const secret = newSigningSecret()
  await db
    .updateTable('webhook_endpoints')
    .set({
      secret: box.seal(secret),
      previous_secret: row.secret,
      previous_secret_until: now + graceMs,
      updated_at: now,
    })
    .where('id', '=', id)
    .execute()
  return { secret, previousValidUntil: now + graceMs }
}

/** Deletes the endpoint with its deliveries and their log. */
export async function deleteEndpoint(db: Kysely<Database>, merchantId: string, id: string): Promise<void> {
  await findEndpoint(db, merchantId, id)
  await db.transaction().execute(async (trx) => {
    const deliveries = trx.selectFrom('webhook_deliveries').select('id').where('endpoint_id', '=', id)
    await trx.deleteFrom('webhook_attempts').where('delivery_id', 'in', deliveries).execute()
    await trx.deleteFrom('webhook_deliveries').where('endpoint_id', '=', id).execute()
    await trx.deleteFrom('webhook_endpoints').where('id', '=', id).execute()
  })
}

/** The secrets that sign now: the current one, and the previous one while its grace period runs. */
export function signingSecrets(
  box: SecretBox,
  row: Pick<WebhookEndpointTable, 'secret' | 'previous_secret' | 'previous_secret_until'>,
  now: number,
): string[] {
  const current = box.open(row.secret)
  const until = row.previous_secret_until === null ? 0 : Number(row.previous_secret_until)
  return row.previous_secret !== null && until > now ? [current, box.open(row.previous_secret)] : [current]
}
