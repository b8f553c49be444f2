import { v7 } from 'uuid'

/** Time-ordered ids (UUIDv7): unique without coordination, and they index well as primary keys. */
export function newId(): string {
  return v7()
}
