import {execFileSync} from 'node:child_process'
import {createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate} from 'node:crypto'
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import forge from 'node-forge'
import {afterAll, describe, expect, it} from 'vitest'

import {
  checkMaterial,
  checkSan,
  createCsr,
  createSelfSigned,
  DEFAULT_SANS,
  ensureServerTls,
  exportPkcs12,
  generateServerKey,
  installCertificate,
  normalizeFingerprint,
  readCertificate,
  serverSans,
  tlsPaths,
} from '../../src/crypto/certs.js'
import {ExitCode, LicadmError} from '../../src/domain/errors.js'
import {tempDir} from './helpers.js'

const tmp = tempDir()
afterAll(tmp.cleanup)

const NOW = Date.UTC(2026, 5, 1, 12)
const DAY = 86_400_000
const KEY = generateServerKey()

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}
const OPENSSL = hasOpenssl()

function thrown(fn: () => unknown): LicadmError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(LicadmError)
    return error as LicadmError
  }
  throw new Error('expected a refusal')
}

/** A company CA (made with forge) that signs a CSR, as a CA would. */
function makeCa() {
  const keys = forge.pki.rsa.generateKeyPair({bits: 1024, e: 0x10001})
  const ca = forge.pki.createCertificate()
  ca.publicKey = keys.publicKey
  ca.serialNumber = '0a'
  ca.validity.notBefore = new Date(NOW - 365 * DAY)
  ca.validity.notAfter = new Date(NOW + 3650 * DAY)
  const name = [{name: 'commonName', value: 'Example Corp Test CA'}]
  ca.setSubject(name)
  ca.setIssuer(name)
  ca.setExtensions([{name: 'basicConstraints', cA: true, critical: true}, {name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true}])
  ca.sign(keys.privateKey, forge.md.sha256.create())
  return {
    pem: forge.pki.certificateToPem(ca),
    sign(csrPem: string, validity: {from: number; to: number} = {from: NOW - DAY, to: NOW + 90 * DAY}): string {
      const csr = forge.pki.certificationRequestFromPem(csrPem)
      const cert = forge.pki.createCertificate()
      cert.publicKey = csr.publicKey!
      cert.serialNumber = '1b'
      cert.validity.notBefore = new Date(validity.from)
      cert.validity.notAfter = new Date(validity.to)
      cert.setSubject(csr.subject.attributes)
      cert.setIssuer(ca.subject.attributes)
      const request = csr.getAttribute({name: 'extensionRequest'}) as {extensions: object[]} | null
      cert.setExtensions([{name: 'basicConstraints', cA: false}, ...(request?.extensions ?? [])])
      cert.sign(keys.privateKey, forge.md.sha256.create())
      return forge.pki.certificateToPem(cert)
    },
  }
}

describe('self-signed server certificates', () => {
  const cert = createSelfSigned({key: KEY, sans: serverSans(['licadm.example.com', '10.0.0.7', 'fd00::0:7']), now: NOW})
  const info = readCertificate(cert)

  it('name the defaults and every SAN given, DNS and IP, v4 and v6', () => {
    expect(info.sans).toEqual(['localhost', '127.0.0.1', '::1', 'licadm.example.com', '10.0.0.7', 'fd00::7'])
    // Node's own parser agrees that these are DNS and IP entries.
    const x509 = new X509Certificate(cert)
    expect(x509.subjectAltName).toContain('DNS:licadm.example.com')
    expect(x509.subjectAltName).toContain('IP Address:10.0.0.7')
    expect(x509.checkHost('licadm.example.com')).toBe('licadm.example.com')
    expect(x509.checkIP('::1')).toBe('::1')
    expect(x509.checkIP('10.0.0.8')).toBeUndefined()
  })

  it('are for the key, self-signed, not a CA, valid from just before now for 825 days', () => {
    expect(info.selfSigned).toBe(true)
    expect(info.subject).toBe('CN=licadm.example.com, O=licadm server')
    expect(info.issuer).toBe(info.subject)
    expect(new X509Certificate(cert).checkPrivateKey(createPrivateKey(KEY))).toBe(true)
    expect(new X509Certificate(cert).ca).toBe(false)
    expect(Date.parse(info.notBefore)).toBeLessThanOrEqual(NOW)
    expect(Date.parse(info.notAfter)).toBe(Math.floor((NOW + 825 * DAY) / 1000) * 1000)
  })

  it('have the SHA-256 fingerprint openssl (or Node) computes', () => {
    expect(info.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    if (OPENSSL) {
      const out = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], {input: cert}).toString()
      expect(out.trim().split('=')[1]).toBe(info.fingerprint)
    } else {
      expect(new X509Certificate(cert).fingerprint256).toBe(info.fingerprint)
    }
  })

  it('differ for every certificate (serial and fingerprint)', () => {
    const again = readCertificate(createSelfSigned({key: KEY, sans: DEFAULT_SANS, now: NOW}))
    expect(again.serialNumber).not.toBe(info.serialNumber)
    expect(again.fingerprint).not.toBe(info.fingerprint)
    expect(again.subject).toBe('CN=localhost, O=licadm server')
  })

  it('refuse non-RSA keys and text that is not a key', () => {
    const ec = generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey.export({type: 'pkcs8', format: 'pem'}).toString()
    expect(thrown(() => createSelfSigned({key: ec, sans: DEFAULT_SANS, now: NOW})).code).toBe('UNSUPPORTED_KEY')
    expect(thrown(() => createSelfSigned({key: 'not a key', sans: DEFAULT_SANS, now: NOW})).code).toBe('NOT_A_PRIVATE_KEY')
  })
})

describe('names and fingerprints as typed', () => {
  it('SANs: host names lower-cased, IPv6 shortened, brackets dropped, wildcards allowed, junk refused', () => {
    expect(checkSan('Licadm.Example.COM.')).toBe('licadm.example.com')
    expect(checkSan('[0:0:0:0:0:0:0:1]')).toBe('::1')
    expect(checkSan('*.corp.example')).toBe('*.corp.example')
    for (const bad of ['', 'bad name', '-x.example', '*.com', 'a..b', 'x_y.example', '999.1.1.1.1']) {
      const err = thrown(() => checkSan(bad))
      expect(err.code).toBe('INVALID_VALUE')
      expect(err.message).toMatch(/^--tls-san:/)
    }
    expect(serverSans(['localhost', 'LOCALHOST', '127.0.0.1', 'a.example'])).toEqual(['localhost', '127.0.0.1', '::1', 'a.example'])
  })

  it('fingerprints: with or without colons, any case, in the AB:CD form; anything else refused', () => {
    const hex = 'ab'.repeat(32)
    const canonical = Array(32).fill('AB').join(':')
    expect(normalizeFingerprint(hex)).toBe(canonical)
    expect(normalizeFingerprint(canonical.toLowerCase())).toBe(canonical)
    expect(normalizeFingerprint(`sha256 Fingerprint=${canonical}`.replace('sha256 Fingerprint=', 'SHA256:'))).toBe(canonical)
    for (const bad of ['ab'.repeat(31), 'zz'.repeat(32), `${hex}00`, '']) expect(thrown(() => normalizeFingerprint(bad, 'server-fingerprint')).message).toMatch(/^server-fingerprint: .* is not a SHA-256 fingerprint/)
  })
})

describe('CSRs', () => {
  it('are signed by the same key and ask for the SANs', () => {
    const pem = createCsr({key: KEY, sans: serverSans(['licadm.corp.example', '10.1.2.3']), organization: 'Example Corp'})
    const csr = forge.pki.certificationRequestFromPem(pem)
    expect(csr.verify()).toBe(true)
    expect(forge.pki.publicKeyToPem(csr.publicKey!).replaceAll('\r\n', '\n').trim()).toBe(createPublicKey(KEY).export({type: 'spki', format: 'pem'}).toString().trim())
    expect(csr.subject.getField('CN').value).toBe('licadm.corp.example')
    expect(csr.subject.getField('O').value).toBe('Example Corp')
    const request = csr.getAttribute({name: 'extensionRequest'}) as {extensions: Array<{name: string; altNames: Array<{value?: string; ip?: string}>}>}
    const san = request.extensions.find((e) => e.name === 'subjectAltName')!
    expect(san.altNames.map((a) => a.ip ?? a.value)).toEqual(['localhost', '127.0.0.1', '::1', 'licadm.corp.example', '10.1.2.3'])
    if (OPENSSL) {
      const out = execFileSync('openssl', ['req', '-noout', '-verify', '-text'], {input: pem, stdio: ['pipe', 'pipe', 'pipe']}).toString()
      expect(out).toContain('DNS:licadm.corp.example')
      expect(out).toContain('IP Address:10.1.2.3')
    }
  })
})

describe('the data directory', () => {
  it('makes the key (0600) and certificate at first start, then keeps them', () => {
    const dir = join(tmp.dir, 'first')
    const first = ensureServerTls(dir, {sans: serverSans(), now: NOW})
    expect(first.made).toBe('created')
    const paths = tlsPaths(dir)
    expect(statSync(paths.key).mode & 0o777).toBe(0o600)
    expect(statSync(paths.dir).mode & 0o777).toBe(0o700)
    expect(readFileSync(paths.cert, 'utf8')).toBe(first.material.cert)
    const second = ensureServerTls(dir, {sans: serverSans(), now: NOW + DAY})
    expect(second.made).toBeUndefined()
    expect(second.info.fingerprint).toBe(first.info.fingerprint)
  })

  it('remakes a self-signed certificate with the same key when a name is added or it expired', () => {
    const dir = join(tmp.dir, 'remake')
    const first = ensureServerTls(dir, {sans: serverSans(), now: NOW})
    const added = ensureServerTls(dir, {sans: serverSans(['new.example']), now: NOW})
    expect(added.made).toBe('sans-added')
    expect(added.info.sans).toContain('new.example')
    expect(added.material.key).toBe(first.material.key)
    expect(added.info.fingerprint).not.toBe(first.info.fingerprint)
    const later = ensureServerTls(dir, {sans: serverSans(), now: NOW + 900 * DAY})
    expect(later.made).toBe('expired')
    expect(later.info.sans).toContain('new.example') // names once added stay
    expect(Date.parse(later.info.notAfter)).toBeGreaterThan(NOW + 900 * DAY)
  })

  it('installs a CA-signed certificate for its key; keeps the previous one', () => {
    const dir = join(tmp.dir, 'install')
    const self = ensureServerTls(dir, {sans: serverSans(), now: NOW})
    const ca = makeCa()
    const signed = ca.sign(createCsr({key: self.material.key, sans: serverSans(['licadm.corp.example'])}))
    const info = installCertificate(dir, signed + ca.pem, NOW)
    expect(info.issuer).toBe('CN=Example Corp Test CA')
    expect(info.selfSigned).toBe(false)
    expect(info.sans).toContain('licadm.corp.example')
    expect(readCertificate(readFileSync(tlsPaths(dir).cert, 'utf8')).fingerprint).toBe(info.fingerprint)
    expect(readFileSync(`${tlsPaths(dir).cert}.previous`, 'utf8')).toBe(self.material.cert)
    // A start afterwards uses it as it is (never replaced by a self-signed one), and says which asked-for names it lacks.
    const kept = ensureServerTls(dir, {sans: serverSans(['other.example']), now: NOW})
    expect(kept.info.fingerprint).toBe(info.fingerprint)
    expect(kept.missingSans).toEqual(['other.example'])
    // Given in CA-first order, the leaf is put first.
    const reordered = checkMaterial({key: self.material.key, cert: ca.pem + signed}, NOW)
    expect(readCertificate(reordered.material.cert).fingerprint).toBe(info.fingerprint)
  })

  it('refuses a certificate for another key, expired, not yet valid, or not a certificate; writes nothing', () => {
    const dir = join(tmp.dir, 'refuse')
    ensureServerTls(dir, {sans: serverSans(), now: NOW})
    const before = readFileSync(tlsPaths(dir).cert, 'utf8')
    const ca = makeCa()
    const otherKey = createCsr({key: generateServerKey(), sans: serverSans()})
    const ours = createCsr({key: readFileSync(tlsPaths(dir).key, 'utf8'), sans: serverSans()})

    const mismatch = thrown(() => installCertificate(dir, ca.sign(otherKey), NOW, 'signed.pem'))
    expect([mismatch.code, mismatch.exit]).toEqual(['CERT_KEY_MISMATCH', ExitCode.wrongTarget])
    expect(mismatch.message).toMatch(/^signed\.pem .* is not for .*server\.key/)

    const expired = thrown(() => installCertificate(dir, ca.sign(ours, {from: NOW - 100 * DAY, to: NOW - DAY}), NOW))
    expect([expired.code, expired.exit]).toEqual(['CERT_EXPIRED', ExitCode.expired])

    const early = thrown(() => installCertificate(dir, ca.sign(ours, {from: NOW + DAY, to: NOW + 100 * DAY}), NOW))
    expect([early.code, early.exit]).toEqual(['CERT_NOT_YET_VALID', ExitCode.notYetValid])

    for (const [text, why] of [
      [ours, /certificate request/],
      [KEY, /private key/],
      ['hello', /not a PEM certificate/],
      ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /does not parse/],
    ] as const) {
      const err = thrown(() => installCertificate(dir, text, NOW))
      expect([err.code, err.exit]).toEqual(['NOT_A_CERTIFICATE', ExitCode.malformed])
      expect(err.message).toMatch(why)
    }
    expect(readFileSync(tlsPaths(dir).cert, 'utf8')).toBe(before)
    expect(existsSync(`${tlsPaths(dir).cert}.previous`)).toBe(false)
  })

  it('refuses to install where there is no key', () => {
    expect(thrown(() => installCertificate(join(tmp.dir, 'empty'), 'x', NOW)).code).toBe('NO_TLS_MATERIAL')
  })
})

describe('PKCS#12 export', () => {
  const dir = join(tmp.dir, 'p12')
  const {material, info} = ensureServerTls(dir, {sans: serverSans(), now: NOW})
  const p12 = exportPkcs12(material, 'correct horse battery')

  it('opens with the passphrase: the same key and certificate', () => {
    const parsed = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(p12.toString('binary')), 'correct horse battery')
    const certs = parsed.getBags({bagType: forge.pki.oids.certBag})[forge.pki.oids.certBag]!
    const keys = parsed.getBags({bagType: forge.pki.oids.pkcs8ShroudedKeyBag})[forge.pki.oids.pkcs8ShroudedKeyBag]!
    expect(certs).toHaveLength(1)
    expect(keys).toHaveLength(1)
    expect(readCertificate(forge.pki.certificateToPem(certs[0].cert!)).fingerprint).toBe(info.fingerprint)
    const key = createPrivateKey(forge.pki.privateKeyToPem(keys[0].key!))
    expect(key.export({type: 'pkcs8', format: 'der'}).equals(createPrivateKey(material.key).export({type: 'pkcs8', format: 'der'}))).toBe(true)
    if (OPENSSL) {
      const file = join(dir, 'server.p12')
      writeFileSync(file, p12)
      const out = execFileSync('openssl', ['pkcs12', '-in', file, '-nodes', '-passin', 'pass:correct horse battery'], {stdio: ['pipe', 'pipe', 'pipe']}).toString()
      expect(out).toContain('BEGIN CERTIFICATE')
      expect(out).toContain('BEGIN PRIVATE KEY')
    }
  })

  it('is refused with a wrong passphrase', () => {
    expect(() => forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(p12.toString('binary')), 'wrong passphrase')).toThrow(/MAC could not be verified|Invalid password/)
  })
})
