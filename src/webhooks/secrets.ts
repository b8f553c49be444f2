import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { PayrailError } from '../domain/errors.ts'

/**
 * Signing secrets must be readable again to sign (unlike API keys, kept only as a hash), so they
 * are sealed: AES-256-GCM under a key derived (SHA-256) from WEBHOOK_SECRET_KEY, stored as
 * `v1:<iv>:<tag>:<ciphertext>` (base64url). A database dump alone then reveals no secret, and a
 * tampered value fails to open. Without WEBHOOK_SECRET_KEY (local use) they are stored as
 * `plain:<secret>`, and the api and notifier log a warning at start; a sealed value never opens
 * without the key, so setting the key later keeps old endpoints working and seals new ones.
 */
export class SecretBox {
  readonly #key: Buffer | undefined

  constructor(secretKey: string | undefined) {
    this.#key = secretKey === undefined ? undefined : createHash('sha256').update(secretKey).digest()
  }

  get sealing(): boolean {
    return this.#key !== undefined
  }

  seal(secret: string): string {
    if (this.#key === undefined) return `plain:${secret}`
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
    return ['v1', iv, cipher.getAuthTag(), sealed]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join(':')
  }

  open(stored: string): string {
    if (stored.startsWith('plain:')) return stored.slice('plain:'.length)
    const [version, iv, tag, sealed] = stored.split(':')
    if (version !== 'v1' || iv === undefined || tag === undefined || sealed === undefined)
      throw new PayrailError('INTERNAL', 'a stored webhook secret has an unknown format')
    if (this.#key === undefined)
      throw new PayrailError('CONFIG_INVALID', 'a webhook secret is sealed but WEBHOOK_SECRET_KEY is not set')
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]).toString(
        'utf8',
      )
    } catch (error) {
      throw new PayrailError(
        'CONFIG_INVALID',
        'a webhook secret does not open with WEBHOOK_SECRET_KEY (another key sealed it, or it was altered)',
        { cause: error },
      )
    }
  }
}
