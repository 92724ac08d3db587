import {generateKeyPairSync, randomBytes, sign, verify} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {ed25519Signer, sodiumPath} from '../../src/crypto/ed25519.js'
import {SigningThread} from '../../src/crypto/signing-thread.js'

const {privateKey, publicKey} = generateKeyPairSync('ed25519')
const inputs = [Buffer.alloc(0), Buffer.from('x'), ...Array.from({length: 40}, (_, i) => randomBytes(1 + i * 97))]
const work = mkdtempSync(join(tmpdir(), 'licadm-ed25519-'))
afterAll(() => rmSync(work, {recursive: true, force: true}))

/** A module with sodium-native's functions that signs wrongly (a broken build). */
function brokenSodium(): string {
  const path = join(work, 'broken-sodium.cjs')
  writeFileSync(
    path,
    `module.exports = {
  crypto_sign_PUBLICKEYBYTES: 32, crypto_sign_SECRETKEYBYTES: 64,
  sodium_malloc: (n) => Buffer.alloc(n),
  crypto_sign_seed_keypair: () => {},
  crypto_sign_detached: (signature) => signature.fill(7),
}`,
  )
  return path
}

describe('Ed25519 signers', () => {
  it('libsodium, as installed here, makes the very signatures node:crypto makes', () => {
    expect(sodiumPath()).toMatch(/sodium-native/)
    const signer = ed25519Signer(privateKey)
    expect(signer.backend).toBe('libsodium')
    for (const data of inputs) {
      const signature = signer.sign(data)
      expect(signature.equals(sign(null, data, privateKey)), `${data.length} bytes`).toBe(true)
      expect(verify(null, data, publicKey, signature)).toBe(true)
    }
  })

  it('node:crypto signs when asked to, when sodium-native does not load, or when it signs wrongly', () => {
    for (const from of [null, join(work, 'no-such-module.cjs'), brokenSodium()]) {
      const signer = ed25519Signer(privateKey, from)
      expect(signer.backend, String(from)).toBe('node:crypto')
      for (const data of inputs) expect(signer.sign(data).equals(sign(null, data, privateKey))).toBe(true)
    }
  })

  it('a key that is not Ed25519 never goes to libsodium: signing with it fails as it does in node:crypto', () => {
    const signer = ed25519Signer(generateKeyPairSync('x25519').privateKey)
    expect(signer.backend).toBe('node:crypto')
    expect(() => signer.sign(Buffer.from('x'))).toThrow()
  })
})

describe('the signing thread, with each library', () => {
  for (const [sodium, backend] of [
    [undefined, 'libsodium'],
    [null, 'node:crypto'],
    [brokenSodium(), 'node:crypto'],
  ] as const) {
    it(`${backend}${sodium ? ' (a broken sodium-native refused)' : ''}: says which, and signs as node:crypto does`, async () => {
      const thread = new SigningThread(privateKey, sodium === undefined ? {} : {sodium})
      try {
        expect(await thread.ready()).toBe(backend)
        const signatures = await Promise.all(inputs.map((data) => thread.sign(data)))
        signatures.forEach((s, i) => expect(s.equals(sign(null, inputs[i], privateKey)), `input ${i}`).toBe(true))
      } finally {
        await thread.close()
      }
    })
  }
})
