import {ConflictError, UsageError} from '../domain/errors.js'
import {newPassphraseFrom} from '../domain/values.js'
import type {ServiceContext} from '../services/context.js'
import {VendorService, vendorIdentity, type VendorLabels} from '../services/vendor.js'

/** The vendor a start names, and where it was named (for refusals). */
interface NamedVendor {
  code: number
  name: string
  from: string
  labels: VendorLabels
}

export const PLACEHOLDER_VENDOR = {code: 1, name: 'licadm test vendor'}

/**
 * The vendor named by --vendor-code/--vendor-name or by the seed file's "vendor"; naming two
 * different ones is refused, since one of them would be silently ignored.
 */
export function namedVendor(flags: {code?: string; name?: string} | undefined, seed: {code: unknown; name: unknown} | undefined): NamedVendor | undefined {
  const byFlags = flags?.code === undefined && flags?.name === undefined ? undefined : checked(flags.code, flags.name, '--vendor-code/--vendor-name', {code: '--vendor-code', name: '--vendor-name'})
  const bySeed = seed === undefined ? undefined : checked(seed.code, seed.name, 'the --seed file\'s "vendor"', {code: '--seed: vendor "code"', name: '--seed: vendor "name"'})
  if (byFlags && bySeed && !same(byFlags, bySeed)) {
    throw new UsageError(`--vendor-code/--vendor-name name vendor ${show(byFlags)}, the --seed file vendor ${show(bySeed)}`, {
      hint: 'Name the vendor once: drop the flags or the seed\'s "vendor".',
      details: {flags: plain(byFlags), seed: plain(bySeed)},
    })
  }
  return byFlags ?? bySeed
}

/**
 * Makes sure the store has the vendor asked for: a new store gets it (or the placeholder vendor
 * when none is named, then `placeholder` is true); a store of another vendor is refused, because
 * every license, lease token and borrow file it signs names its vendor.
 */
export async function ensureVendor(ctx: ServiceContext, wanted: NamedVendor | undefined, store: {describe: string; mayCreate: boolean; passphrase?: string}): Promise<{placeholder: boolean}> {
  const existing = await ctx.store.db.selectFrom('vendor').select(['code', 'name']).executeTakeFirst()
  const vendors = new VendorService(ctx)
  if (!existing) {
    if (!store.mayCreate) await vendors.get() // refuses: a profile gets its vendor from "licadm init"
    // The new signing key is encrypted as "licadm init" would: with LICADM_KEY_PASSPHRASE when set.
    const passphrase = store.passphrase === undefined ? undefined : newPassphraseFrom('LICADM_KEY_PASSPHRASE', store.passphrase)
    await vendors.init({...(wanted ?? PLACEHOLDER_VENDOR), passphrase}, wanted?.labels)
    return {placeholder: wanted === undefined}
  }
  if (wanted && !same(existing, wanted)) {
    throw new ConflictError('VENDOR_MISMATCH', `${store.describe} belongs to vendor ${show(existing)}, not ${show(wanted)}, named by ${wanted.from}`, {
      hint: `Every license, lease token and borrow file of a store names its vendor, so it keeps the one it has: start another vendor in a new data directory (--data), or leave out ${wanted.from}.`,
      details: {store: plain(existing), wanted: plain(wanted)},
    })
  }
  return {placeholder: false}
}

function checked(code: unknown, name: unknown, from: string, labels: VendorLabels): NamedVendor {
  return {...vendorIdentity(code, name, labels), from, labels}
}

const same = (a: {code: number; name: string}, b: {code: number; name: string}) => a.code === b.code && a.name === b.name
const show = (v: {code: number; name: string}) => `${v.code} (${v.name})`
const plain = (v: {code: number; name: string}) => ({code: v.code, name: v.name})
