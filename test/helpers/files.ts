/**
 * Builds changed and forged license files for refusal tests, independently of licadm's own code
 * (only node:crypto), so a bug in licadm's armor or JWS code cannot hide in the test.
 */
import {createHmac, createPrivateKey, createPublicKey, sign} from 'node:crypto'
import {readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

export function dearmorText(file: string): {kind: string; jws: string} {
  const lines = file.trim().split('\n')
  const kind = /^-----BEGIN LICADM ([A-Z]+)-----$/.exec(lines[0])![1]
  const body = lines.slice(1, -1).join('')
  return {kind, jws: Buffer.from(body, 'base64').toString('utf8')}
}

export function armorText(jws: string, kind = 'LICENSE'): string {
  const body = Buffer.from(jws, 'utf8').toString('base64').match(/.{1,64}/g)!.join('\n')
  return `-----BEGIN LICADM ${kind}-----\n${body}\n-----END LICADM ${kind}-----\n`
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const unb64 = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))

export function parts(file: string): {header: any; payload: any; signature: string; signingInput: string} {
  const [h, p, s] = dearmorText(file).jws.split('.')
  return {header: unb64(h), payload: unb64(p), signature: s, signingInput: `${h}.${p}`}
}

/** The same file with its payload changed and the original signature kept (what a forger does). */
export function withPayload(file: string, change: (payload: any) => any): string {
  const [h, p, s] = dearmorText(file).jws.split('.')
  return armorText(`${h}.${b64(change(unb64(p)))}.${s}`)
}

/** One character of the armored file replaced by another base64 character. */
export function changeChar(file: string, at: number): string {
  const c = file[at]
  const replacement = c === 'A' ? 'B' : c === '\n' ? 'A' : 'A'
  return file.slice(0, at) + replacement + file.slice(at + 1)
}

/** Signs header and payload with a private key PEM (EdDSA), as a vendor's key would. */
export function signWith(privateKeyPem: string, header: object, payload: object): string {
  const input = `${b64(header)}.${b64(payload)}`
  const signature = sign(null, Buffer.from(input), createPrivateKey(privateKeyPem)).toString('base64url')
  return armorText(`${input}.${signature}`)
}

/** "alg": "none" with an empty signature. */
export function algNone(file: string): string {
  const {header, payload} = parts(file)
  return armorText(`${b64({...header, alg: 'none'})}.${b64(payload)}.`)
}

/** HS256 with the vendor's public key (PEM text) as the HMAC secret: the classic key-confusion attack. */
export function hs256WithPublicKey(file: string, publicKeyPem: string): string {
  const {header, payload} = parts(file)
  const input = `${b64({...header, alg: 'HS256'})}.${b64(payload)}`
  const mac = createHmac('sha256', publicKeyPem).update(input).digest('base64url')
  return armorText(`${input}.${mac}`)
}

/** The (unencrypted) private key PEM of a profile's active key, read straight from the key directory. */
export function privateKeyPem(keyDir: string, kid: string): string {
  const name = readdirSync(keyDir).find((f) => f === `${kid}.pem`)
  if (!name) throw new Error(`no key file for ${kid} in ${keyDir}`)
  return readFileSync(join(keyDir, name), 'utf8')
}

export function publicPemOf(privatePem: string): string {
  return createPublicKey(createPrivateKey(privatePem)).export({format: 'pem', type: 'spki'}).toString()
}
