import {describe, expect, it} from 'vitest'

import {newId} from '../../src/domain/ids.js'

describe('newId', () => {
  it('is the prefix, 10 characters of time and 12 of randomness, in lower-case Crockford base32', () => {
    const id = newId('lic', Date.UTC(2026, 0, 1))
    expect(id).toMatch(/^lic_[0-9a-hjkmnp-tv-z]{22}$/)
    expect(newId('lic', 0, Buffer.alloc(12))).toBe(`lic_${'0'.repeat(22)}`)
    expect(newId('x', 31, Buffer.alloc(12, 31))).toBe(`x_${'0'.repeat(9)}z${'z'.repeat(12)}`)
  })

  it('sorts by creation time, as text', () => {
    const times = [0, 1, 31, 32, 1000, Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + 1, Date.UTC(2100, 0, 1)]
    const ids = times.map((t) => newId('lic', t))
    expect([...ids].sort()).toEqual(ids)
    // The time part is the same within a millisecond, the random part differs.
    const a = newId('lic', 5)
    const b = newId('lic', 5)
    expect(a.slice(0, 14)).toBe(b.slice(0, 14))
    expect(a).not.toBe(b)
  })
})
