import {randomBytes} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {InvalidValueError} from '../../src/domain/errors.js'
import {generateTicket, looksLikeTicket, parseTicket, ticketEntropy, ticketFromEntropy} from '../../src/domain/ticket.js'

/** Crockford's base32 alphabet, as the design describes tickets (no I, L, O, U). */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

const raw = (t: string) => t.replaceAll('-', '')
const grouped = (r: string) => r.match(/.{5}/g)!.join('-')

/** What parseTicket threw, or undefined when it accepted the input. */
function refusal(input: string): InvalidValueError | undefined {
  try {
    parseTicket(input)
    return undefined
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidValueError)
    return error as InvalidValueError
  }
}

describe('tickets', () => {
  it('round-trips and tolerates case, missing dashes and O/I look-alikes', () => {
    const t = generateTicket()
    expect(t).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$/)
    expect(parseTicket(t.toLowerCase().replaceAll('-', ''))).toBe(t)
  })

  it('has the format XXXXX-XXXXX-XXXXX-XXXXX-XXXXX over the Crockford alphabet', () => {
    for (let i = 0; i < 200; i++) {
      const t = generateTicket()
      expect(t).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$/)
      expect(looksLikeTicket(t)).toBe(true)
      expect(parseTicket(t)).toBe(t)
    }
  })

  it('uses the whole alphabet and is random (no two of 2,000 tickets alike)', () => {
    const seen = new Set<string>()
    const chars = new Set<string>()
    for (let i = 0; i < 2000; i++) {
      const t = generateTicket()
      seen.add(t)
      for (const c of raw(t).slice(0, 24)) chars.add(c)
    }
    expect(seen.size).toBe(2000)
    expect([...chars].sort().join('')).toBe(ALPHABET)
  })

  it('is a pure function of its entropy; bulk entropy gives distinct tickets per index', () => {
    const bytes = randomBytes(24)
    expect(generateTicket(bytes)).toBe(generateTicket(Buffer.from(bytes)))
    const pool = ticketEntropy(3)
    expect(pool.length).toBe(72)
    const tickets = [0, 1, 2].map((i) => ticketFromEntropy(pool, i))
    expect(new Set(tickets).size).toBe(3)
    expect(tickets[1]).toBe(generateTicket(pool.subarray(24, 48)))
  })

  it('catches every single-character substitution (every position, every other character)', () => {
    const accepted: string[] = []
    const wrongReason: string[] = []
    let tried = 0
    for (let n = 0; n < 20; n++) {
      const r = raw(generateTicket())
      for (let pos = 0; pos < 25; pos++) {
        for (const c of ALPHABET) {
          if (c === r[pos]) continue
          const typo = grouped(r.slice(0, pos) + c + r.slice(pos + 1))
          tried++
          try {
            parseTicket(typo)
            accepted.push(typo)
          } catch (error) {
            const e = error as InvalidValueError
            if (!(e instanceof InvalidValueError) || e.details?.reason !== 'ticket-check-failed' || e.exit !== 2 || !/mistyped/.test(e.message)) {
              wrongReason.push(`${typo}: ${e.message}`)
            }
          }
        }
      }
    }
    expect(tried).toBe(20 * 25 * 31)
    expect(accepted).toEqual([])
    expect(wrongReason).toEqual([])
  })

  it('catches every adjacent transposition of distinct characters except 0<->Z (what Luhn mod 32 guarantees)', () => {
    // Luhn mod N misses exactly one transposition: the first and the last character of the alphabet
    // ("0" and "Z"), the analogue of 09<->90 in Luhn mod 10. Everything else must be caught.
    let swaps = 0
    for (let n = 0; n < 120; n++) {
      const r = raw(generateTicket())
      for (let pos = 0; pos < 24; pos++) {
        const a = r[pos]
        const b = r[pos + 1]
        if (a === b) continue
        const swapped = r.slice(0, pos) + b + a + r.slice(pos + 2)
        swaps++
        const error = refusal(grouped(swapped))
        if ((a === '0' && b === 'Z') || (a === 'Z' && b === '0')) continue
        expect(error, `swap at ${pos} of ${r} was accepted`).toBeDefined()
        expect(error!.details?.reason).toBe('ticket-check-failed')
      }
    }
    expect(swaps).toBeGreaterThan(120 * 20)
    // Constructed cases: the 0/Z swap really is the blind spot, so the claim above is measured, not assumed.
    let constructed = 0
    for (let n = 0; n < 50; n++) {
      const r = raw(generateTicket())
      const body = `${r.slice(0, 10)}0Z${r.slice(12, 24)}`
      const valid = validTicketWithBody(body)
      const swapped = `${body.slice(0, 10)}Z0${body.slice(12)}${raw(valid)[24]}`
      if (refusal(grouped(swapped)) === undefined) constructed++
    }
    expect(constructed).toBe(50)
  })

  it('normalizes what people type: lower case, no dashes, spaces, O for 0, I and L for 1', () => {
    // A ticket with 0s and 1s in it, made by searching generated ones.
    let t = ''
    while (!(raw(t).includes('0') && raw(t).includes('1'))) t = generateTicket()
    expect(parseTicket(t.toLowerCase())).toBe(t)
    expect(parseTicket(raw(t))).toBe(t)
    expect(parseTicket(`  ${t}  `)).toBe(t)
    expect(parseTicket(t.replaceAll('-', ' '))).toBe(t)
    expect(parseTicket(t.replaceAll('0', 'O'))).toBe(t)
    expect(parseTicket(t.replaceAll('0', 'o'))).toBe(t)
    expect(parseTicket(t.replaceAll('1', 'I'))).toBe(t)
    expect(parseTicket(t.replaceAll('1', 'l'))).toBe(t)
    expect(parseTicket(t.replaceAll('1', 'L').toLowerCase())).toBe(t)
  })

  it('reports text that is not a ticket differently from a mistyped ticket', () => {
    const t = generateTicket()
    for (const bad of ['', 'hello', raw(t).slice(0, 24), `${raw(t)}0`, `${raw(t).slice(0, 24)}U`, `${raw(t).slice(0, 24)}!`]) {
      const error = refusal(bad)
      expect(error, bad).toBeDefined()
      expect(error!.message).toMatch(/is not a ticket/)
      expect(error!.details?.reason).toBeUndefined()
    }
    const error = refusal(`${raw(t).slice(0, 24)}${raw(t)[24] === 'A' ? 'B' : 'A'}`)
    expect(error!.details?.reason).toBe('ticket-check-failed')
    expect(() => parseTicket('nope', '--ticket')).toThrow(/^--ticket: /)
  })

  it('tells tickets from license ids', () => {
    const t = generateTicket()
    expect(looksLikeTicket(t)).toBe(true)
    expect(looksLikeTicket(raw(t).toLowerCase())).toBe(true)
    expect(looksLikeTicket('lic_01jv0000000000000000000000')).toBe(false)
    expect(looksLikeTicket(raw(t).slice(1))).toBe(false)
    // Pasted with spaces between the groups: parseTicket reads it, so it must count as a ticket.
    expect(looksLikeTicket(t.replaceAll('-', ' '))).toBe(true)
    expect(parseTicket(t.replaceAll('-', ' '))).toBe(t)
  })
})

/** A valid ticket whose first 24 characters are `body`: find its check character by trial. */
function validTicketWithBody(body: string): string {
  for (const c of ALPHABET) {
    if (refusal(grouped(body + c)) === undefined) return grouped(body + c)
  }
  throw new Error(`no check character for ${body}`)
}
