import {randomBytes} from 'node:crypto'

import {InvalidValueError} from './errors.js'

/**
 * Activation tickets: 25 characters in five groups (`XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`) from Crockford's
 * base32 alphabet, the last one a Luhn mod 32 check character. 24 random characters give 120 bits, and
 * the check character catches every single mistyped character and most swapped neighbours, so a
 * typo is reported as a typo instead of "not found".
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const N = ALPHABET.length
const BODY = 24

function checkChar(body: string): string {
  let factor = 2
  let sum = 0
  for (let i = body.length - 1; i >= 0; i--) {
    let addend = factor * ALPHABET.indexOf(body[i])
    factor = factor === 2 ? 1 : 2
    addend = Math.floor(addend / N) + (addend % N)
    sum += addend
  }
  return ALPHABET[(N - (sum % N)) % N]
}

function group(raw: string): string {
  return raw.match(/.{5}/g)!.join('-')
}

/** A new random ticket. `random` is injectable so bulk issuance can draw entropy in one call. */
export function generateTicket(random: Buffer = randomBytes(BODY)): string {
  let body = ''
  for (let i = 0; i < BODY; i++) body += ALPHABET[random[i] % N]
  return group(body + checkChar(body))
}

/** Random bytes for `count` tickets at once: one system call instead of thousands. */
export function ticketEntropy(count: number): Buffer {
  return randomBytes(count * BODY)
}

export function ticketFromEntropy(pool: Buffer, index: number): string {
  return generateTicket(pool.subarray(index * BODY, (index + 1) * BODY))
}

/** Does this look like a ticket at all (as opposed to a license id)? */
export function looksLikeTicket(input: string): boolean {
  // Groups may be separated by dashes or spaces, or not at all: parseTicket accepts the same.
  return /^[0-9A-Za-z]{5}([-\s]?[0-9A-Za-z]{5}){4}$/.test(input.trim())
}

/**
 * Normalizes what a person typed (lower case, missing dashes, O for 0, I or L for 1) and checks the
 * check character.
 */
export function parseTicket(input: string, flag = 'ticket'): string {
  const raw = input
    .trim()
    .toUpperCase()
    .replaceAll(/[\s-]/g, '')
    .replaceAll('O', '0')
    .replaceAll(/[IL]/g, '1')
  if (raw.length !== BODY + 1 || [...raw].some((c) => !ALPHABET.includes(c))) {
    throw new InvalidValueError(flag, `"${input}" is not a ticket: expected 25 characters like XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`)
  }
  if (checkChar(raw.slice(0, BODY)) !== raw[BODY]) {
    throw new InvalidValueError(flag, `ticket "${input}" is mistyped: its check character does not match`, {
      hint: 'Compare the ticket character by character with the original.',
      details: {reason: 'ticket-check-failed'},
    })
  }
  return group(raw)
}
