import {ExitCode, LicadmError} from '../domain/errors.js'
import type {Tx} from '../store/store.js'

/**
 * The key that signed something is no longer the vendor's active key: another process ran
 * "key rotate" (and maybe "key remove") after the signer was loaded. What it signed is not stored.
 */
export class SigningKeyRetiredError extends LicadmError {
  constructor(
    readonly kid: string,
    readonly keyStatus: 'retired' | 'removed',
  ) {
    super('SIGNING_KEY_RETIRED', ExitCode.conflict, `the signing key ${kid} was ${keyStatus} while this ran ("key rotate"${keyStatus === 'removed' ? ', "key remove"' : ''} in another process): nothing signed with it was stored`, {
      hint: 'Run the command again: it signs with the active key.',
      details: {kid, keyStatus},
    })
  }
}

/**
 * Refuses to store what `kid` signed unless it is still the vendor's active key. Call it inside the
 * write transaction that stores the signed artifact: the write lock keeps a rotation from committing
 * between this check and the commit. One indexed select (kid is the primary key).
 */
export async function assertActiveSigner(tx: Tx, kid: string): Promise<void> {
  const row = await tx.selectFrom('vendor_keys').select('status').where('kid', '=', kid).executeTakeFirst()
  if (row?.status !== 'active') throw new SigningKeyRetiredError(kid, row ? 'retired' : 'removed')
}

/** How many rotations in a row `withActiveSigner` follows before it gives up. */
const ROTATIONS_FOLLOWED = 3

/**
 * Runs `attempt` with what `load` gives (a signer, or a vendor and a signer; loaded outside any
 * transaction, as a passphrase may be asked for). When the key was rotated meanwhile (`attempt`
 * throws SigningKeyRetiredError, its transaction rolled back), loads the active signer again and
 * runs `attempt` once more.
 */
export async function withActiveSigner<S, T>(load: () => Promise<S>, attempt: (loaded: S) => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    const loaded = await load()
    try {
      return await attempt(loaded)
    } catch (error) {
      if (!(error instanceof SigningKeyRetiredError) || tries >= ROTATIONS_FOLLOWED) throw error
    }
  }
}
