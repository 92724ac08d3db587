import {describe, expect, it} from 'vitest'

import {generateSigningKey, signerFor, type Signer} from '../../src/crypto/keys.js'
import {signCompact} from '../../src/crypto/jws.js'
import {signAsync, signCompactAsync} from '../../src/crypto/sign-async.js'
import {signResponse, signResponseAsync, verifyResponse} from '../../src/formats/response.js'

describe('signing in the thread pool', () => {
  const {privateKey, publicKey} = generateSigningKey()
  const signer = signerFor(privateKey)

  it('makes the very JWS the synchronous signer makes (Ed25519 is deterministic)', async () => {
    const claims = {iss: '7', sub: 'lse_1', exp: 2_000_000_000, user: 'ann', host: 'pc1'}
    expect(await signCompactAsync('licadm-lease+jwt', claims, signer)).toBe(signCompact('licadm-lease+jwt', claims, signer))
    const body = '{"ok":true,"result":{"released":true}}'
    const signature = await signResponseAsync(body, 200, 1_780_000_000_123, signer)
    expect(signature).toBe(signResponse(body, 200, 1_780_000_000_123, signer))
    expect(verifyResponse(signature, body, 200, new Map([[signer.kid, publicKey]]))).toEqual({kid: signer.kid, serverTime: 1_780_000_000_123, status: 200})
  })

  it('many at once, each over its own data', async () => {
    const inputs = Array.from({length: 50}, (_, i) => Buffer.from(`input ${i}`))
    const signatures = await Promise.all(inputs.map((data) => signAsync(signer, data)))
    signatures.forEach((s, i) => expect(s.equals(signer.sign(inputs[i]))).toBe(true))
  })

  it('a signer without its private key signs on this thread', async () => {
    const calls: Buffer[] = []
    const bare: Signer = {kid: 'k', sign: (data) => (calls.push(data), Buffer.alloc(64, 1))}
    expect(await signAsync(bare, Buffer.from('x'))).toEqual(Buffer.alloc(64, 1))
    expect(calls).toHaveLength(1)
  })
})
