import {generateKeyPairSync} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {generateSigningKey, signerFor, type Signer} from '../../src/crypto/keys.js'
import {signCompact} from '../../src/crypto/jws.js'
import {signAsync, signCompactAsync} from '../../src/crypto/sign-async.js'
import {SIGNATURES_PER_ANSWER, SigningThread, threadedSigner} from '../../src/crypto/signing-thread.js'
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
    // The protected header is exactly this JSON (a stock JOSE library reads it).
    expect(Buffer.from(signature.split('.')[0], 'base64url').toString()).toBe(JSON.stringify({alg: 'EdDSA', kid: signer.kid, typ: 'licadm-response+jws', t: 1_780_000_000_123, st: 200}))
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

describe('the signing thread', () => {
  const {privateKey} = generateSigningKey()
  const signer = signerFor(privateKey)

  it('makes the very signatures the synchronous signer makes, many asked for at once', async () => {
    const thread = new SigningThread(privateKey)
    try {
      const threaded = threadedSigner(signer, thread)
      const inputs = Array.from({length: 200}, (_, i) => Buffer.from(`input ${i}`.repeat(i % 7)))
      const signatures = await Promise.all(inputs.map((data) => signAsync(threaded, data)))
      signatures.forEach((s, i) => expect(s.equals(signer.sign(inputs[i])), `input ${i}`).toBe(true))
      // Later batches too, and through the JWS helpers.
      const claims = {iss: '7', sub: 'lse_2', exp: 2_000_000_000}
      expect(await signCompactAsync('licadm-lease+jwt', claims, threaded)).toBe(signCompact('licadm-lease+jwt', claims, signer))
      expect(await signResponseAsync('{}', 201, 5, threaded)).toBe(signResponse('{}', 201, 5, signer))
    } finally {
      await thread.close()
    }
  })

  it('a key that cannot sign: every signature of the batch is refused with the reason, and ready() fails', async () => {
    const thread = new SigningThread(generateKeyPairSync('x25519').privateKey)
    try {
      const outcomes = await Promise.allSettled(Array.from({length: SIGNATURES_PER_ANSWER * 3}, (_, i) => thread.sign(Buffer.from(`item ${i}`))))
      for (const o of outcomes) expect(o.status === 'rejected' && String(o.reason.message)).toMatch(/^signing failed: .+/)
      await expect(thread.ready()).rejects.toThrow(/^signing failed: /)
    } finally {
      await thread.close()
    }
  })

  it('a retired thread (its key rotated out) signs what it was asked, and ends once idle for its grace time', async () => {
    const thread = new SigningThread(privateKey)
    try {
      const asked = thread.sign(Buffer.from('asked before'))
      thread.retire(50)
      // Within the grace time a request that took this key still gets its signature.
      expect((await asked).equals(signer.sign(Buffer.from('asked before')))).toBe(true)
      expect((await thread.sign(Buffer.from('just after'))).equals(signer.sign(Buffer.from('just after')))).toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 300))
      await expect(thread.sign(Buffer.from('long after'))).rejects.toThrow(/signing thread was closed/)
    } finally {
      await thread.close()
    }
  })

  it('refuses to sign once closed, with a clear error', async () => {
    const thread = new SigningThread(privateKey)
    const pending = thread.sign(Buffer.from('asked before close')).then(
      () => 'signed',
      (error: Error) => error.message,
    )
    await thread.close()
    await expect(thread.sign(Buffer.from('after'))).rejects.toThrow(/signing thread was closed/)
    // Asked before the close: refused, not left waiting.
    expect(await pending).toMatch(/signing thread was closed/)
  })
})
