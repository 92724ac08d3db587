/**
 * Offline activation test helpers: read, change and re-sign armored request, update and receipt
 * files with node:crypto only (independently of licadm's own armor and JWS code), and spawn
 * licadm for a simulated device (its own LICADM_DEVICE_DIR).
 */
import {createPrivateKey, sign} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {RunOptions, RunResult, Sandbox} from './cli.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const unb64 = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))

export function unarmor(file: string): {kind: string; jws: string} {
  const lines = file.trim().split('\n')
  const kind = /^-----BEGIN LICADM ([A-Z]+)-----$/.exec(lines[0])![1]
  return {kind, jws: Buffer.from(lines.slice(1, -1).join(''), 'base64').toString('utf8')}
}

export function rearmor(jws: string, kind: string): string {
  const body = Buffer.from(jws, 'utf8').toString('base64').match(/.{1,64}/g)!.join('\n')
  return `-----BEGIN LICADM ${kind}-----\n${body}\n-----END LICADM ${kind}-----\n`
}

export function decoded(file: string): {kind: string; header: any; payload: any; jws: string} {
  const {kind, jws} = unarmor(file)
  const [h, p] = jws.split('.')
  return {kind, header: unb64(h), payload: unb64(p), jws}
}

/** The file with its payload changed and signed again with `privateKeyPem` (a holder of that key). */
export function resign(file: string, privateKeyPem: string, change: (payload: any) => any, headerChange: (header: any) => any = (h) => h): string {
  const {kind, header, payload} = decoded(file)
  const input = `${b64(headerChange(header))}.${b64(change(structuredClone(payload)))}`
  const signature = sign(null, Buffer.from(input), createPrivateKey(privateKeyPem)).toString('base64url')
  return rearmor(`${input}.${signature}`, kind)
}

/** The file with its payload changed and the original signature kept (what a forger does). */
export function forge(file: string, change: (payload: any) => any): string {
  const {kind, jws} = unarmor(file)
  const [h, p, s] = jws.split('.')
  return rearmor(`${h}.${b64(change(unb64(p)))}.${s}`, kind)
}

/** The device's private signing key, read from its device directory. */
export function deviceKeyPem(deviceDir: string): string {
  return readFileSync(join(deviceDir, 'sign.pem'), 'utf8')
}

/** A licadm runner for one simulated device of a sandbox. */
export function onDevice(sb: Sandbox, deviceDir: string): (args: string[], options?: RunOptions) => Promise<RunResult> {
  return (args, options = {}) => sb.run(args, {...options, env: {LICADM_DEVICE_DIR: deviceDir, ...options.env}})
}
