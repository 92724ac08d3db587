/**
 * HTTPS end to end: `licadm server start --tls` spawned from the built CLI, the seat commands
 * trusting it by --ca or by the profile's pinned fingerprint (and refusing it without), the kept
 * certificate of a data directory, and the `server cert` and `profile set` commands. Needs dist/.
 */
import type {ChildProcess} from 'node:child_process'
import {X509Certificate} from 'node:crypto'
import {readFileSync, statSync, writeFileSync} from 'node:fs'

import forge from 'node-forge'
import {afterAll, afterEach, describe, expect, it} from 'vitest'

import {fails, ok, sandbox, spawnLicadm, type Sandbox} from '../helpers/cli.js'

const CLIENT = 'e2e-tls-client-token'
const SEED = {
  vendor: {code: 9191, name: 'E2E TLS'},
  products: [{code: 7, name: 'Seven'}],
  licenses: [{key: 'five', product: 7, quantity: 5, features: 1}],
}

const children = new Set<ChildProcess>()
const boxes: Sandbox[] = []
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
})
afterAll(() => {
  for (const sb of boxes) sb.cleanup()
})

function box(): Sandbox {
  const sb = sandbox('licadm-e2e-tls-')
  boxes.push(sb)
  return sb
}

/** Spawns `licadm server start --port 0 --json …` and resolves with its ready object. */
function startServer(sb: Sandbox, args: string[]): Promise<{child: ChildProcess; ready: any; stderr: () => string; exited: Promise<number | null>}> {
  const child = spawnLicadm(['server', 'start', '--port', '0', '--json', '--client-token', CLIENT, ...args], {env: sb.env})
  children.add(child)
  let out = ''
  let err = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start\n${err}`)), 30_000)
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      const nl = out.indexOf('\n')
      if (nl >= 0) {
        clearTimeout(timer)
        const line = JSON.parse(out.slice(0, nl))
        if (line.ok) resolve({child, ready: line.result, stderr: () => err, exited})
        else reject(new Error(`server refused to start: ${out}`))
      }
    })
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited ${code} before it was ready\n${err}\n${out}`))
    })
  })
}

async function stop(s: {child: ChildProcess; exited: Promise<number | null>}): Promise<void> {
  s.child.kill('SIGTERM')
  expect(await s.exited).toBe(0)
}

describe('licadm server start --tls (spawned)', {timeout: 120_000}, () => {
  it('--memory: an https URL; seat list trusts it with --ca, refuses it without, and trusts the pinned fingerprint of the profile', async () => {
    const sb = box()
    writeFileSync(sb.path('seed.json'), JSON.stringify(SEED))
    const s = await startServer(sb, ['--memory', '--tls', '--seed', sb.path('seed.json')])
    expect(s.ready.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const {tls} = s.ready
    expect(tls.sans).toEqual(['localhost', '127.0.0.1', '::1'])
    expect(new X509Certificate(tls.certificate).fingerprint256).toBe(tls.fingerprint)
    expect(Date.parse(tls.notAfter)).toBeGreaterThan(Date.now())
    writeFileSync(sb.path('server.pem'), tls.certificate)
    const env = {LICADM_TOKEN: CLIENT}

    const list = ok(await sb.run(['seat', 'list', '--server', s.ready.url, '--ca', sb.path('server.pem'), '--json'], {env}))
    expect(list.licenses[0]).toMatchObject({used: 0, quantity: 5})
    // LICADM_CA works as the flag does.
    ok(await sb.run(['seat', 'list', '--server', s.ready.url, '--json'], {env: {...env, LICADM_CA: sb.path('server.pem')}}))

    const untrusted = fails(await sb.run(['seat', 'list', '--server', s.ready.url, '--json'], {env}), 8)
    expect(untrusted.code).toBe('TLS_UNTRUSTED')
    expect(untrusted.message).toContain(s.ready.url)
    expect(untrusted.hint).toContain('--ca FILE')
    expect(untrusted.hint).toContain(`licadm profile set server-fingerprint ${tls.fingerprint}`)
    const text = await sb.run(['seat', 'list', '--server', s.ready.url], {env})
    expect(text.code).toBe(8)
    expect(text.stderr).toContain(tls.fingerprint)

    // The profile keeps the server and the pin (no vendor profile needed); flags are not needed then.
    ok(await sb.run(['profile', 'set', 'server', s.ready.url, '--json']))
    ok(await sb.run(['profile', 'set', 'server-fingerprint', tls.fingerprint.replaceAll(':', '').toLowerCase(), '--json']))
    const shown = ok(await sb.run(['profile', 'show', '--json']))
    expect(shown.remote).toEqual({server: s.ready.url, serverFingerprint: tls.fingerprint})
    const checkout = ok(await sb.run(['seat', 'checkout', '--product', '7', '--user', 'ann', '--host', 'pc1', '--json'], {env}))
    expect(checkout.lease.user).toBe('ann')

    // Another pin: refused before anything is sent (the seat count stays 1).
    ok(await sb.run(['profile', 'set', 'server-fingerprint', 'AB'.repeat(32)]))
    const mismatch = fails(await sb.run(['seat', 'checkout', '--product', '7', '--user', 'eve', '--host', 'pc9', '--json'], {env}), 8)
    expect(mismatch.code).toBe('TLS_FINGERPRINT_MISMATCH')
    // --ca wins over the profile's pin.
    const after = ok(await sb.run(['seat', 'list', '--ca', sb.path('server.pem'), '--json'], {env}))
    expect(after.licenses[0].used).toBe(1)
    // A plain http URL with a certificate to check is refused, never a silent downgrade.
    const downgrade = fails(await sb.run(['seat', 'list', '--server', s.ready.url.replace('https:', 'http:'), '--ca', sb.path('server.pem'), '--json'], {env}), 2)
    expect(downgrade.message).toMatch(/plain http/)

    ok(await sb.run(['profile', 'unset', 'server-fingerprint', '--json']))
    expect(ok(await sb.run(['profile', 'show', '--json'])).remote).toEqual({server: s.ready.url})
    await stop(s)
  })

  it('--data: the certificate is made at first start, kept (0600 key) and served again; cert show agrees', async () => {
    const sb = box()
    const data = sb.path('srv')
    const first = await startServer(sb, ['--data', data, '--tls', '--tls-san', 'licenses.example.com', '--tls-san', '10.9.8.7'])
    expect(first.ready.tls.sans).toEqual(['localhost', '127.0.0.1', '::1', 'licenses.example.com', '10.9.8.7'])
    expect(first.ready.tls.subject).toBe('CN=licenses.example.com, O=licadm server')
    expect(statSync(`${data}/tls/server.key`).mode & 0o777).toBe(0o600)
    // No vendor in a seed: the new store's placeholder vendor is said, once.
    expect(first.ready.vendor).toEqual({code: 1, name: 'licadm test vendor'})
    await stop(first)
    expect(first.stderr()).toMatch(/"level":40,.*the new store in .*srv got the placeholder vendor 1 \(licadm test vendor\).*--vendor-code and --vendor-name/)

    const second = await startServer(sb, ['--data', data, '--tls'])
    expect(second.ready.tls.fingerprint).toBe(first.ready.tls.fingerprint)
    await stop(second)
    expect(second.stderr()).toMatch(/licadm server stopped/)
    expect(second.stderr()).not.toMatch(/placeholder vendor/)

    const shown = ok(await sb.run(['server', 'cert', 'show', '--data', data, '--json']))
    expect(shown).toMatchObject({fingerprint: first.ready.tls.fingerprint, selfSigned: true, sans: first.ready.tls.sans, chainLength: 1})
    const text = await sb.run(['server', 'cert', 'show', '--data', data])
    expect(text.stdout).toContain(first.ready.tls.fingerprint)
    expect(text.stdout).toMatch(/valid, 82\d days left/)
  })

  it('--cert/--key: serves the given material; refuses a key that does not match', async () => {
    const sb = box()
    const data = sb.path('made')
    ok(await sb.run(['server', 'cert', 'csr', '--data', data, '--json'])) // makes a key and a self-signed certificate
    const other = sb.path('other')
    ok(await sb.run(['server', 'cert', 'csr', '--data', other, '--json']))
    const s = await startServer(sb, ['--memory', '--cert', `${data}/tls/server.crt`, '--key', `${data}/tls/server.key`])
    expect(s.ready.url).toMatch(/^https:/)
    expect(s.ready.tls.fingerprint).toBe(ok(await sb.run(['server', 'cert', 'show', '--data', data, '--json'])).fingerprint)
    await stop(s)

    const child = spawnLicadm(['server', 'start', '--memory', '--port', '0', '--json', '--client-token', CLIENT, '--cert', `${data}/tls/server.crt`, '--key', `${other}/tls/server.key`], {env: sb.env})
    const out: Buffer[] = []
    child.stdout!.on('data', (b: Buffer) => out.push(b))
    const code = await new Promise((resolve) => child.on('exit', resolve))
    expect(code).toBe(18)
    expect(JSON.parse(Buffer.concat(out).toString()).error.code).toBe('CERT_KEY_MISMATCH')
  })
})

describe('licadm server cert (csr, install, export)', {timeout: 120_000}, () => {
  it('a CSR signed by a company CA installs; the wrong certificate, a CSR or junk is refused with its own exit status', async () => {
    const sb = box()
    const data = sb.path('srv')
    const csr = ok(await sb.run(['server', 'cert', 'csr', '--data', data, '--san', 'licenses.corp.example', '--org', 'Example Corp', '--out', sb.path('server.csr'), '--json']))
    expect(csr.sans).toEqual(['localhost', '127.0.0.1', '::1', 'licenses.corp.example'])
    const request = forge.pki.certificationRequestFromPem(readFileSync(sb.path('server.csr'), 'utf8'))
    expect(request.verify()).toBe(true)

    const ca = testCa()
    writeFileSync(sb.path('signed.pem'), ca.sign(request) + ca.pem)
    const installed = ok(await sb.run(['server', 'cert', 'install', sb.path('signed.pem'), '--data', data, '--json']))
    expect(installed).toMatchObject({issuer: 'CN=E2E Corp CA', selfSigned: false})
    expect(installed.sans).toContain('licenses.corp.example')
    expect(ok(await sb.run(['server', 'cert', 'show', '--data', data, '--json'])).fingerprint).toBe(installed.fingerprint)

    // A certificate for another key (another directory's CSR), the CSR itself, junk.
    ok(await sb.run(['server', 'cert', 'csr', '--data', sb.path('other'), '--out', sb.path('other.csr')]))
    writeFileSync(sb.path('foreign.pem'), ca.sign(forge.pki.certificationRequestFromPem(readFileSync(sb.path('other.csr'), 'utf8'))))
    expect(fails(await sb.run(['server', 'cert', 'install', sb.path('foreign.pem'), '--data', data, '--json']), 18).code).toBe('CERT_KEY_MISMATCH')
    expect(fails(await sb.run(['server', 'cert', 'install', sb.path('server.csr'), '--data', data, '--json']), 10).code).toBe('NOT_A_CERTIFICATE')
    writeFileSync(sb.path('junk.pem'), 'not a certificate\n')
    expect(fails(await sb.run(['server', 'cert', 'install', sb.path('junk.pem'), '--data', data, '--json']), 10).code).toBe('NOT_A_CERTIFICATE')
    // Nothing changed.
    expect(ok(await sb.run(['server', 'cert', 'show', '--data', data, '--json'])).fingerprint).toBe(installed.fingerprint)
  })

  it('exports PEM, and PKCS#12 only with a passphrase from LICADM_P12_PASSPHRASE (never a flag, never asked without a terminal)', async () => {
    const sb = box()
    const data = sb.path('srv')
    ok(await sb.run(['server', 'cert', 'csr', '--data', data, '--json']))
    const pem = ok(await sb.run(['server', 'cert', 'export', '--data', data, '--out', sb.path('server.pem'), '--json']))
    expect(readFileSync(sb.path('server.pem'), 'utf8')).toBe(readFileSync(`${data}/tls/server.crt`, 'utf8'))
    expect(pem.format).toBe('pem')

    const noPass = fails(await sb.run(['server', 'cert', 'export', '--data', data, '--p12', '--out', sb.path('server.p12'), '--json']), 2)
    expect(noPass.details).toEqual({env: 'LICADM_P12_PASSPHRASE'})
    expect(fails(await sb.run(['server', 'cert', 'export', '--data', data, '--p12', '--out', sb.path('server.p12'), '--json'], {env: {LICADM_P12_PASSPHRASE: 'short'}}), 2).message).toMatch(/at least 8/)

    const passphrase = 'e2e p12 passphrase'
    const p12 = ok(await sb.run(['server', 'cert', 'export', '--data', data, '--p12', '--out', sb.path('server.p12'), '--json'], {env: {LICADM_P12_PASSPHRASE: passphrase}}))
    expect(p12).toMatchObject({format: 'pkcs12', fingerprint: pem.fingerprint})
    expect(statSync(sb.path('server.p12')).mode & 0o777).toBe(0o600)
    const der = readFileSync(sb.path('server.p12')).toString('binary')
    const parsed = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der), passphrase)
    expect(parsed.getBags({bagType: forge.pki.oids.pkcs8ShroudedKeyBag})[forge.pki.oids.pkcs8ShroudedKeyBag]).toHaveLength(1)
    expect(() => forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der), 'another passphrase')).toThrow()
    // An existing file is kept unless --force.
    expect(fails(await sb.run(['server', 'cert', 'export', '--data', data, '--p12', '--out', sb.path('server.p12'), '--json'], {env: {LICADM_P12_PASSPHRASE: passphrase}}), 4).code).toBe('FILE_EXISTS')
  })
})

describe('licadm profile set', {timeout: 60_000}, () => {
  it('checks each value: a URL, a SHA-256 fingerprint, an existing PEM certificate', async () => {
    const sb = box()
    expect(fails(await sb.run(['profile', 'set', 'server', 'ftp://x', '--json']), 2).code).toBe('INVALID_VALUE')
    expect(fails(await sb.run(['profile', 'set', 'server-fingerprint', 'AB:CD', '--json']), 2).message).toMatch(/^server-fingerprint: .*not a SHA-256 fingerprint/)
    expect(fails(await sb.run(['profile', 'set', 'ca', sb.path('missing.pem'), '--json']), 3).code).toBe('FILE_NOT_FOUND')
    writeFileSync(sb.path('junk.pem'), 'junk')
    expect(fails(await sb.run(['profile', 'set', 'ca', sb.path('junk.pem'), '--json']), 10).code).toBe('NOT_A_CERTIFICATE')
    expect(fails(await sb.run(['profile', 'set', 'colour', 'red', '--json']), 2).code).toBe('USAGE')
    ok(await sb.run(['server', 'cert', 'csr', '--data', sb.path('srv'), '--json']))
    const set = ok(await sb.run(['profile', 'set', 'ca', 'srv/tls/server.crt', '--profile', 'remote-only', '--json'], {cwd: sb.dir}))
    expect(set.remote).toEqual({ca: sb.path('srv/tls/server.crt')}) // kept as an absolute path
    expect(ok(await sb.run(['profile', 'unset', 'ca', '--profile', 'remote-only', '--json']))).toMatchObject({removed: true, remote: {}})
    expect(ok(await sb.run(['profile', 'unset', 'ca', '--profile', 'remote-only', '--json']))).toMatchObject({removed: false})
  })
})

/** A company CA made with node-forge that signs a CSR as it comes. */
function testCa() {
  const keys = forge.pki.rsa.generateKeyPair({bits: 1024, e: 0x10001})
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '0c'
  cert.validity.notBefore = new Date(Date.now() - 86_400_000)
  cert.validity.notAfter = new Date(Date.now() + 365 * 86_400_000)
  const name = [{name: 'commonName', value: 'E2E Corp CA'}]
  cert.setSubject(name)
  cert.setIssuer(name)
  cert.setExtensions([{name: 'basicConstraints', cA: true}, {name: 'keyUsage', keyCertSign: true, cRLSign: true}])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return {
    pem: forge.pki.certificateToPem(cert),
    sign(csr: forge.pki.CertificateSigningRequest): string {
      const leaf = forge.pki.createCertificate()
      leaf.publicKey = csr.publicKey!
      leaf.serialNumber = '2d'
      leaf.validity.notBefore = new Date(Date.now() - 3_600_000)
      leaf.validity.notAfter = new Date(Date.now() + 90 * 86_400_000)
      leaf.setSubject(csr.subject.attributes)
      leaf.setIssuer(name)
      const requested = csr.getAttribute({name: 'extensionRequest'}) as {extensions: object[]} | null
      leaf.setExtensions([{name: 'basicConstraints', cA: false}, ...(requested?.extensions ?? [])])
      leaf.sign(keys.privateKey, forge.md.sha256.create())
      return forge.pki.certificateToPem(leaf)
    },
  }
}
