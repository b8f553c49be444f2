/**
 * The secrets the user types in (admin token, merchant key): kept in sessionStorage only, so
 * they last for this tab and go with it; never put in a URL, a log line or localStorage.
 */
const ADMIN = 'payrail.adminToken'
const MERCHANT = 'payrail.merchantKey'

type Listener = () => void

export interface Secrets {
  adminToken: string
  merchantKey: string
}

export class SessionSecrets {
  readonly #listeners = new Set<Listener>()
  readonly #storage: Storage

  constructor(storage: Storage) {
    this.#storage = storage
  }

  get(): Secrets {
    return {
      adminToken: this.#storage.getItem(ADMIN) ?? '',
      merchantKey: this.#storage.getItem(MERCHANT) ?? '',
    }
  }

  setAdminToken(token: string): void {
    this.#put(ADMIN, token)
  }

  setMerchantKey(key: string): void {
    this.#put(MERCHANT, key)
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #put(name: string, value: string): void {
    const trimmed = value.trim()
    if (trimmed === '') this.#storage.removeItem(name)
    else this.#storage.setItem(name, trimmed)
    for (const listener of this.#listeners) listener()
  }
}
