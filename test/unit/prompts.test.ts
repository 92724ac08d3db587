/** The question definitions of src/cli/prompts.ts, answered through @inquirer/testing. */
import {confirm, input, password} from '@inquirer/prompts'
import {render} from '@inquirer/testing'
import {describe, expect, it} from 'vitest'

import {questions, validWith} from '../../src/cli/prompts.js'

describe('questions.vendorCode', () => {
  it('shows the validation message for "abc" and resolves "1001"', async () => {
    const {answer, events, getScreen} = await render(input, questions.vendorCode)
    expect(getScreen()).toContain('Vendor code')
    events.type('abc')
    events.keypress('enter')
    await new Promise((r) => setTimeout(r, 0))
    expect(getScreen()).toContain('vendor code: "abc" is not a whole number (accepted: 1 to 4294967295)')
    // Clear and type a good one.
    for (let i = 0; i < 3; i++) events.keypress('backspace')
    events.type('1001')
    events.keypress('enter')
    await expect(answer).resolves.toBe('1001')
  })

  it.each([
    ['0', 'out of range'],
    ['4294967296', 'out of range'],
    ['-1', 'out of range'],
    ['', 'is required'],
  ])('refuses %j: %s', async (typed, words) => {
    expect(questions.vendorCode.validate(typed)).toContain(words)
    expect(questions.vendorCode.validate(typed)).toContain('1 to 4294967295')
  })

  it('accepts the edges of the range', () => {
    expect(questions.vendorCode.validate('1')).toBe(true)
    expect(questions.vendorCode.validate('4294967295')).toBe(true)
  })
})

describe('questions.vendorName and productName', () => {
  it('an empty name is refused on the screen; a name resolves', async () => {
    const {answer, events, getScreen} = await render(input, questions.vendorName)
    events.keypress('enter')
    await new Promise((r) => setTimeout(r, 0))
    expect(getScreen()).toContain('vendor name: is required (1 to 200 characters)')
    events.type('Acme Software')
    events.keypress('enter')
    await expect(answer).resolves.toBe('Acme Software')
  })

  it('refuses names over 200 characters', () => {
    expect(questions.vendorName.validate('x'.repeat(201))).toBe('vendor name: is 201 characters long: give 1 to 200')
    expect(questions.productName.validate('x'.repeat(200))).toBe(true)
    expect(questions.productName.validate('   ')).toBe('product name: is required (1 to 200 characters)')
  })
})

describe('questions.productCode', () => {
  it('shows the range for a bad code and resolves a good one', async () => {
    const {answer, events, getScreen} = await render(input, questions.productCode)
    events.type('x7')
    events.keypress('enter')
    await new Promise((r) => setTimeout(r, 0))
    expect(getScreen()).toContain('1 to 4294967295')
    events.keypress('backspace')
    events.keypress('backspace')
    events.type('7')
    events.keypress('enter')
    await expect(answer).resolves.toBe('7')
  })
})

describe('passphrase questions', () => {
  it('the passphrase is masked on the screen', async () => {
    const {answer, events, getScreen} = await render(password, questions.passphrase)
    events.type('s3cret-pass')
    expect(getScreen()).not.toContain('s3cret-pass')
    expect(getScreen()).toContain('*'.repeat(11))
    events.keypress('enter')
    await expect(answer).resolves.toBe('s3cret-pass')
  })

  it('a new passphrase needs at least 8 characters', async () => {
    const {answer, events, getScreen} = await render(password, questions.newPassphrase)
    events.type('short')
    events.keypress('enter')
    await new Promise((r) => setTimeout(r, 0))
    expect(getScreen()).toContain('use at least 8 characters')
    expect(getScreen()).not.toContain('short')
    events.type('-but-now-long')
    events.keypress('enter')
    await expect(answer).resolves.toBe('short-but-now-long')
  })
})

describe('confirmation', () => {
  it('a confirmation with default false (as Prompter.confirm asks) answers no on enter', async () => {
    const {answer, events} = await render(confirm, {message: 'Revoke license lic_1?', default: false})
    events.keypress('enter')
    await expect(answer).resolves.toBe(false)
  })
})

describe('validWith', () => {
  it('turns a throwing check into inquirer validation', () => {
    const v = validWith((s) => {
      if (s !== 'ok') throw new Error('say ok')
    })
    expect(v('ok')).toBe(true)
    expect(v('no')).toBe('say ok')
  })
})
