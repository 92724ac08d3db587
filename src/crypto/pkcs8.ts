import {createCipheriv, pbkdf2Sync, randomBytes, type KeyObject} from 'node:crypto'

/**
 * Passphrase-encrypted PKCS#8 (RFC 5958 EncryptedPrivateKeyInfo with PBES2, RFC 8018): PBKDF2 with
 * HMAC-SHA-256 and AES-256-CBC, as OpenSSL and node:crypto read it. Written here because
 * node:crypto's own export derives the key with 2,048 PBKDF2 iterations, which a stolen key file
 * shrugs off; this one uses PBKDF2_ITERATIONS (the figure OWASP gives for PBKDF2-HMAC-SHA-256).
 */
export const PBKDF2_ITERATIONS = 600_000

const OID = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
}

/** The private key as an "ENCRYPTED PRIVATE KEY" PEM, sealed with `passphrase`. */
export function encryptedPkcs8Pem(privateKey: KeyObject, passphrase: string, iterations = PBKDF2_ITERATIONS): string {
  const salt = randomBytes(16)
  const iv = randomBytes(16)
  const key = pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt, iterations, 32, 'sha256')
  const cipher = createCipheriv('aes-256-cbc', key, iv)
  const plain = privateKey.export({format: 'der', type: 'pkcs8'})
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()])
  const algorithm = sequence(
    oid(OID.pbes2),
    sequence(
      sequence(oid(OID.pbkdf2), sequence(octets(salt), integer(iterations), sequence(oid(OID.hmacWithSha256), NULL))),
      sequence(oid(OID.aes256Cbc), octets(iv)),
    ),
  )
  const der = sequence(algorithm, octets(encrypted))
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${lines.join('\n')}\n-----END ENCRYPTED PRIVATE KEY-----\n`
}

// ---- the few DER encodings the structure needs ----

const NULL = Buffer.from([0x05, 0x00])

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length
  const length = n < 0x80 ? Buffer.from([n]) : lengthOf(n)
  return Buffer.concat([Buffer.from([tag]), length, content])
}

function lengthOf(n: number): Buffer {
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function sequence(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items))
}

function octets(value: Buffer): Buffer {
  return tlv(0x04, value)
}

/** A non-negative INTEGER, with a leading zero byte when its top bit is set. */
function integer(value: number): Buffer {
  const bytes: number[] = []
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  if (bytes.length === 0 || bytes[0] & 0x80) bytes.unshift(0)
  return tlv(0x02, Buffer.from(bytes))
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number)
  const body: number[] = [first * 40 + second]
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f]
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80)
    body.push(...chunk)
  }
  return tlv(0x06, Buffer.from(body))
}
