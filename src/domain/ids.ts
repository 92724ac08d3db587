import {randomBytes} from 'node:crypto'

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'

/**
 * Sortable ids (`lic_01jv…`): 10 characters of millisecond time then 12 random characters, so ids
 * sort by creation and list pages are stable without a separate sequence.
 */
export function newId(prefix: string, nowMs: number, random: Buffer = randomBytes(12)): string {
  let time = ''
  let t = nowMs
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time
    t = Math.floor(t / 32)
  }
  let rand = ''
  for (let i = 0; i < 12; i++) rand += ALPHABET[random[i] % 32]
  return `${prefix}_${time}${rand}`
}
