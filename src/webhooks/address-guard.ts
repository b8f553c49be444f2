import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { BlockList, isIP } from 'node:net'
import { PayrailError } from '../domain/errors.ts'

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved'

function list(entries: [string, number, 'ipv4' | 'ipv6'][]): BlockList {
  const block = new BlockList()
  for (const [network, prefix, family] of entries) block.addSubnet(network, prefix, family)
  return block
}

// Cloud instance-metadata services: AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba.
const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200'])

const CLASSES: [AddressClass, BlockList][] = [
  [
    'unspecified',
    list([
      ['0.0.0.0', 8, 'ipv4'],
      ['::', 128, 'ipv6'],
    ]),
  ],
  [
    'loopback',
    list([
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ]),
  ],
  [
    'link-local',
    list([
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ]),
  ],
  [
    'private',
    list([
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT
      ['fc00::', 7, 'ipv6'], // unique local
    ]),
  ],
  [
    'multicast',
    list([
      ['224.0.0.0', 4, 'ipv4'],
      ['ff00::', 8, 'ipv6'],
    ]),
  ],
  [
    'reserved',
    list([
      ['192.0.0.0', 24, 'ipv4'],
      ['192.0.2.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'],
      ['198.51.100.0', 24, 'ipv4'],
      ['203.0.113.0', 24, 'ipv4'],
      ['240.0.0.0', 4, 'ipv4'], // and 255.255.255.255
      ['2001:db8::', 32, 'ipv6'],
      ['100::', 64, 'ipv6'],
    ]),
  ],
]

/** IPv6 forms that carry an IPv4 address: mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96), compatible. */
function embeddedIPv4(address: string): string | undefined {
  const lower = address.toLowerCase()
  const dotted = /^(?:::ffff:|64:ff9b::|::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
  if (dotted !== null) return dotted[1]
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower)
  if (hex === null) return undefined
  const high = Number.parseInt(hex[1] as string, 16)
  const low = Number.parseInt(hex[2] as string, 16)
  return [high >> 8, high & 255, low >> 8, low & 255].join('.')
}

/** What kind of address `address` (an IP literal) is; only `public` may be sent to by default. */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  const family = isIP(bare)
  if (family === 0)
    throw new PayrailError('WEBHOOK_URL_REFUSED', `${JSON.stringify(address)} is not an IP address`)
  const v4 = family === 6 ? embeddedIPv4(bare) : bare
  if (v4 !== undefined && family === 6) return classifyAddress(v4)
  if (METADATA.has(bare.toLowerCase())) return 'metadata'
  const type = family === 4 ? 'ipv4' : 'ipv6'
  for (const [name, block] of CLASSES) if (block.check(bare, type)) return name
  return 'public'
}

/** Throws WEBHOOK_URL_REFUSED unless `address` is public or private addresses are allowed. */
export function checkAddress(address: string, allowPrivate: boolean, host: string): void {
  const kind = classifyAddress(address)
  if (kind !== 'public' && !allowPrivate)
    throw new PayrailError(
      'WEBHOOK_URL_REFUSED',
      `${host} resolves to a ${kind} address (${address}); set WEBHOOK_ALLOW_PRIVATE=true to allow it`,
    )
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void

/**
 * A `lookup` for net/tls.connect (undici's `connect` option): resolves the host once, refuses
 * the connection when any of its addresses is not public (a name that resolves to one public and
 * one private address is refused, so the choice can't be steered), and hands the socket exactly
 * the addresses it checked, so nothing resolves the name again between the check and the connect.
 */
export function guardedLookup(allowPrivate: boolean, resolve: typeof dnsLookup = dnsLookup) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0)
    resolve(hostname, { all: true, family }, (error, addresses) => {
      if (error !== null) return callback(error, [])
      try {
        if (addresses.length === 0)
          throw new PayrailError('WEBHOOK_URL_REFUSED', `${hostname} has no address`)
        for (const { address } of addresses) checkAddress(address, allowPrivate, hostname)
      } catch (refused) {
        return callback(refused as NodeJS.ErrnoException, [])
      }
      if (options.all === true) return callback(null, addresses)
      const first = addresses[0] as LookupAddress
      callback(null, first.address, first.family)
    })
  }
}
