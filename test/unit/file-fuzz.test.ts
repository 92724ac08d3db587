/**
 * Damaged files, generated: each kind of artifact licadm reads (license file, lease token, borrow
 * file, device identity, offline request, update and receipt, SAW file, response signature) is
 * changed a few hundred ways by a seeded generator (a flipped, dropped or inserted character, a cut,
 * a doubled or swapped part, other line endings) and read again. Whatever the damage, the reader
 * either reads the file (a change the armor ignores, such as line endings) or refuses it with a typed
 * error that says why: never a TypeError or any other crash. LICADM_FUZZ_SEED picks other inputs.
 */
import {createHash, generateKeyPairSync} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {publicJwk} from '../../src/crypto/keys.js'
import {decodeIdentity, encodeIdentity} from '../../src/formats/device.js'
import {armorBorrow, returnedBorrowId, signBorrow, signLease, verifyBorrowFile, verifyLeaseToken, type SeatClaims} from '../../src/formats/lease.js'
import {armorLicense, peekLicense, signLicense, verifyLicenseFile} from '../../src/formats/license.js'
import {encodeReceipt, encodeRequest, encodeUpdate, peekOffline, requestKeys, verifyReceipt, verifyRequest, verifyUpdate} from '../../src/formats/offline.js'
import {signResponse, verifyResponse} from '../../src/formats/response.js'
import {VerificationError} from '../../src/domain/errors.js'
import {encodeSaw, peekSaw, verifySaw} from '../../src/formats/saw.js'
import {crashOf, damage, FUZZ_SEED as SEED, generator} from '../helpers/fuzz.js'
import {claims, NOW, testKey} from './helpers.js'

const ROUNDS = 300

const key = testKey()
const device = testKey()
const deviceEnc = generateKeyPairSync('x25519')
const seat: SeatClaims = {iss: '1234', sub: 'brw_test', jti: 'brw_test', iat: NOW, exp: NOW + 86_400, lic: 'lic_test', product: 7, features: 1, user: 'ann', host: 'pc1', mode: 'checkout'}
const fingerprint = 'SIM-FUZZ-1'
const identityKeys = {sig: publicJwk(device.publicKey).x as string, enc: publicJwk(deviceEnc.publicKey).x as string}
const license = armorLicense(signLicense(claims(), key.signer))
const request = encodeRequest(
  {iss: fingerprint, sub: fingerprint, jti: 'req_test', iat: NOW, purpose: 'activate', container: null, vendor: 1234, counter: 0, nonce: 'n0nce', device: {name: 'fuzz', platform: 'linux', keys: identityKeys}, holds: []},
  device.signer,
)
const update = encodeUpdate(
  {iss: '1234', sub: fingerprint, jti: 'upd_test', iat: NOW, purpose: 'activate', request: 'req_test', container: 'L-AAAA-BBBB-CCCC', containerKind: 'local', counter: 1, licenses: [signLicense(claims(), key.signer)], added: ['lic_test'], removed: []},
  key.signer,
).file
const receipt = encodeReceipt(
  {iss: fingerprint, sub: fingerprint, jti: 'rct_test', iat: NOW, update: 'upd_test', container: 'L-AAAA-BBBB-CCCC', counter: 1, updateHash: createHash('sha256').update('x').digest('base64url'), holds: ['lic_test'], vendor: '1234'},
  device.signer,
)
const saw = encodeSaw({iss: '1234', jti: 'saw_test', iat: NOW, exp: NOW + 86_400, sub: fingerprint, container: 'E-AAAA-BBBB-CCCC', containerKind: 'enterprise', gen: 2}, 'E-AAAA-BBBB-CCCC:secret', deviceEnc.publicKey, key.signer)
const body = JSON.stringify({ok: true, result: {lease: 'lse_test'}})

/** Each reader over a valid file of its kind. */
const readers: [string, string, (text: string) => unknown][] = [
  ['license file (verify)', license, (t) => verifyLicenseFile(t, key.keys, NOW)],
  ['license file (peek)', license, (t) => peekLicense(t)],
  ['lease token', signLease({...seat, sub: 'lse_test', jti: 'lse_test'}, key.signer), (t) => verifyLeaseToken(t, key.keys, NOW)],
  ['borrow file (verify)', armorBorrow(signBorrow(seat, key.signer)), (t) => verifyBorrowFile(t, key.keys, NOW)],
  ['borrow file (return)', armorBorrow(signBorrow(seat, key.signer)), (t) => returnedBorrowId(t)],
  ['device identity', encodeIdentity({fingerprint, name: 'fuzz', platform: 'linux', signKey: identityKeys.sig, encKey: identityKeys.enc}, device.signer, NOW), (t) => decodeIdentity(t, NOW)],
  ['activation request', request, (t) => verifyRequest(t, requestKeys(peekOffline(t, 'REQUEST').claims), NOW)],
  ['activation update', update, (t) => verifyUpdate(t, key.keys, NOW)],
  ['activation receipt', receipt, (t) => verifyReceipt(t, device.keys, NOW)],
  ['offline file (peek)', update, (t) => peekOffline(t)],
  ['SAW file (verify)', saw, (t) => verifySaw(t, key.keys, NOW)],
  ['SAW file (peek)', saw, (t) => peekSaw(t)],
  ['response signature', signResponse(body, 200, NOW * 1000, key.signer), (t) => verifyResponse(t, body, 200, key.keys)],
]

describe(`damaged files are refused with a reason, never a crash (seed ${SEED}; LICADM_FUZZ_SEED picks another)`, () => {
  it.each(readers)('%s', (_name, valid, read) => {
    expect(() => read(valid)).not.toThrow()
    const random = generator(SEED)
    const crashes: string[] = []
    let refused = 0
    for (let i = 0; i < ROUNDS; i++) {
      const changed = damage(valid, random)
      try {
        read(changed)
      } catch (error) {
        const crash = crashOf(error, changed)
        if (crash) crashes.push(crash)
        else refused++
      }
    }
    expect(crashes.slice(0, 3).join('\n')).toBe('')
    // Most changes break the file; the few it survives (line endings, blank lines) do not count.
    expect(refused).toBeGreaterThan(ROUNDS / 2)
  })
})

describe('a response signature header built to trip the parser is refused with a reason', () => {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const sig = Buffer.alloc(64).toString('base64url')
  /** A detached JWS over `body` with this protected header, signed with the test key. */
  const signedWith = (header: object) => {
    const h = b64(header)
    return `${h}..${key.signer.sign(Buffer.from(`${h}.${Buffer.from(body).toString('base64url')}`)).toString('base64url')}`
  }
  const genuine = JSON.parse(Buffer.from(signResponse(body, 200, NOW * 1000, key.signer).split('.')[0], 'base64url').toString())

  it.each([
    ['a JSON null header', `${b64(null)}..${sig}`, 'malformed'],
    ['a JSON array header', `${b64([1])}..${sig}`, 'malformed'],
    ['a header that is not JSON', `${Buffer.from('{').toString('base64url')}..${sig}`, 'malformed'],
    ['a non-canonical base64url header', `${signResponse(body, 200, NOW * 1000, key.signer).split('.')[0]}x..${sig}`, 'malformed'],
    ['critical header parameters, genuinely signed', signedWith({...genuine, crit: ['x-must-understand'], 'x-must-understand': 1}), 'malformed'],
  ])('%s', (_name, signature, reason) => {
    let refusal: unknown
    try {
      verifyResponse(signature, body, 200, key.keys)
    } catch (error) {
      refusal = error
    }
    expect(refusal).toBeInstanceOf(VerificationError)
    expect(refusal).toMatchObject({reason})
  })
})
