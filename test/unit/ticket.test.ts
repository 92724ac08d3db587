import {describe, expect, it} from 'vitest'

import {generateTicket, parseTicket} from '../../src/domain/ticket.js'

describe('tickets', () => {
  it('round-trips and tolerates case, missing dashes and O/I look-alikes', () => {
    const t = generateTicket()
    expect(t).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$/)
    expect(parseTicket(t.toLowerCase().replaceAll('-', ''))).toBe(t)
  })
})
