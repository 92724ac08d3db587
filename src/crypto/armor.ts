import {VerificationError} from '../domain/errors.js'

/** Every armored artifact kind; the label names the file for people and for the type check. */
export const ARMOR_KINDS = ['LICENSE', 'SAW', 'DEVICE', 'REQUEST', 'UPDATE', 'RECEIPT', 'BORROW', 'LEASE'] as const
export type ArmorKind = (typeof ARMOR_KINDS)[number]

const LINE = 64

/** Armored text survives mail and tickets: base64 lines of the JWS between BEGIN and END lines. */
export function armor(kind: ArmorKind, jws: string): string {
  const body = Buffer.from(jws, 'utf8').toString('base64').match(new RegExp(`.{1,${LINE}}`, 'g'))!.join('\n')
  return `-----BEGIN LICADM ${kind}-----\n${body}\n-----END LICADM ${kind}-----\n`
}

const BEGIN = /-----BEGIN LICADM ([A-Z]+)-----/
const END = /-----END LICADM ([A-Z]+)-----/

export interface Dearmored {
  kind: string
  jws: string
}

/**
 * Extracts the JWS from armored text. Text around the armor (a mail quote, a ticket comment) is
 * ignored; quoting marks such as "> " at line starts are tolerated.
 */
export function dearmor(text: string, expected?: ArmorKind): Dearmored {
  const begin = BEGIN.exec(text)
  if (!begin) {
    throw new VerificationError('malformed', 'not an armored licadm file: no "-----BEGIN LICADM …-----" line', {
      hint: 'Give the file exactly as licadm wrote it.',
    })
  }
  const kind = begin[1]
  const rest = text.slice(begin.index + begin[0].length)
  const end = END.exec(rest)
  if (!end) {
    throw new VerificationError('truncated', `the ${kind.toLowerCase()} file is truncated: its END line is missing`, {
      hint: 'The file was cut off in transfer; ask for it again.',
    })
  }
  if (end[1] !== kind) {
    throw new VerificationError('malformed', `the armor begins as ${kind} but ends as ${end[1]}`)
  }
  const body = rest
    .slice(0, end.index)
    .split(/\r?\n/)
    .map((line) => line.replace(/^[>\s]+/, '').trim())
    .join('')
  if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) {
    throw new VerificationError('malformed', `the ${kind.toLowerCase()} file's body is not valid base64: it was changed or cut`)
  }
  const bytes = Buffer.from(body, 'base64')
  if (bytes.toString('base64') !== body) {
    throw new VerificationError('malformed', `the ${kind.toLowerCase()} file's body is not canonical base64: it was changed`)
  }
  if (expected && kind !== expected) {
    throw new VerificationError('wrong-type', `this is a ${kind} file, not a ${expected} file`, {details: {found: kind, expected}})
  }
  return {kind, jws: bytes.toString('utf8')}
}
