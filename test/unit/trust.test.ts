import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {serverClient, trustFrom} from '../../src/cli/server-flags.js'
import {createSelfSigned, generateServerKey, serverSans} from '../../src/crypto/certs.js'
import {LicadmError} from '../../src/domain/errors.js'
import {tempDir} from './helpers.js'

const tmp = tempDir()
afterAll(tmp.cleanup)

const PEM = createSelfSigned({key: generateServerKey(), sans: serverSans(), now: Date.UTC(2026, 0, 1)})
const caFile = join(tmp.dir, 'ca.pem')
writeFileSync(caFile, PEM)
const FP = 'AB:'.repeat(31) + 'AB'

async function refused(promise: Promise<unknown>): Promise<LicadmError> {
  try {
    await promise
  } catch (error) {
    return error as LicadmError
  }
  throw new Error('expected a refusal')
}

describe('trustFrom: which certificate trust a command uses', () => {
  it('none given: the system CAs (undefined)', async () => {
    expect(await trustFrom({server: 'https://a.example'}, {})).toBeUndefined()
  })

  it('--ca wins over everything the profile says', async () => {
    expect(await trustFrom({server: 'https://a.example', ca: caFile}, {server: 'https://a.example', serverFingerprint: FP})).toEqual({ca: PEM})
  })

  it("the profile's pin and CA apply to its own server, and to any server when it names none", async () => {
    const remote = {server: 'https://a.example:22350', serverFingerprint: FP, ca: caFile}
    expect(await trustFrom({}, remote)).toEqual({fingerprint: FP, ca: PEM})
    expect(await trustFrom({server: 'https://a.example:22350/'}, remote)).toEqual({fingerprint: FP, ca: PEM})
    expect(await trustFrom({server: 'https://anything.example'}, {serverFingerprint: FP})).toEqual({fingerprint: FP})
  })

  it("but not to another server given by flag (that server is checked against the system's CAs)", async () => {
    expect(await trustFrom({server: 'https://b.example'}, {server: 'https://a.example', serverFingerprint: FP})).toBeUndefined()
    expect(await trustFrom({server: 'https://a.example:8443'}, {server: 'https://a.example', serverFingerprint: FP})).toBeUndefined()
  })

  it('a CA file that is missing or not a certificate is refused, naming where it came from', async () => {
    expect((await refused(trustFrom({ca: join(tmp.dir, 'none.pem')}))).code).toBe('FILE_NOT_FOUND')
    const junk = join(tmp.dir, 'junk.pem')
    writeFileSync(junk, 'junk')
    const err = await refused(trustFrom({}, {ca: junk}))
    expect(err.code).toBe('NOT_A_CERTIFICATE')
    expect(err.message).toContain('the profile\'s "ca"')
  })
})

describe('serverClient', () => {
  it('refuses a plain http URL when a certificate is to be checked (no silent downgrade)', async () => {
    const err = await refused(serverClient({server: 'http://127.0.0.1:1', token: 't', ca: caFile}))
    expect(err.code).toBe('USAGE')
    expect(err.message).toMatch(/plain http/)
  })

  it('takes the server from the profile when no flag names one; the flag wins', async () => {
    const profiles = async () => ({remote: () => ({server: 'https://profile.example:22350'}), resolve: (n?: string) => n ?? 'default'}) as never
    expect((await serverClient({token: 't'}, {profiles})).base).toBe('https://profile.example:22350')
    expect((await serverClient({token: 't', server: 'https://flag.example'}, {profiles})).base).toBe('https://flag.example')
    expect((await refused(serverClient({token: 't'}))).message).toMatch(/missing required flag --server/)
  })
})
