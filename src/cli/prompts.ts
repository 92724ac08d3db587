import {LIMITS} from '../domain/license.js'
import {parseText, parseUint, passphraseCheck} from '../domain/values.js'

/**
 * Question definitions, validated with the same rules as the flags they stand for; tested with
 * @inquirer/testing.
 */
export function validWith(check: (value: string) => unknown): (value: string) => true | string {
  return (value) => {
    try {
      check(value)
      return true
    } catch (error) {
      return (error as Error).message
    }
  }
}

export const questions = {
  vendorCode: {
    message: 'Vendor code (a number that identifies you as publisher, 1 to 4294967295)',
    validate: validWith((v) => parseUint(v, 'vendor code', LIMITS.code, {required: true})),
  },
  vendorName: {
    message: 'Vendor name',
    validate: validWith((v) => parseText(v, 'vendor name', {required: true})),
  },
  productCode: {
    message: 'Product code (1 to 4294967295)',
    validate: validWith((v) => parseUint(v, 'product code', LIMITS.code, {required: true})),
  },
  productName: {
    message: 'Product name',
    validate: validWith((v) => parseText(v, 'product name', {required: true})),
  },
  passphrase: {message: 'Passphrase for the signing key', mask: '*'},
  newPassphrase: {
    message: 'New passphrase for the signing key (at least 8 characters)',
    mask: '*',
    validate: passphraseCheck,
  },
  repeatPassphrase: {message: 'Repeat the passphrase', mask: '*'},
} as const

/** Every prompt licadm shows goes through here, so command tests can stub these methods. */
export class Prompter {
  async input(question: {message: string; validate?: (v: string) => true | string; default?: string}): Promise<string> {
    const {input} = await import('@inquirer/prompts')
    return input(question)
  }

  async password(question: {message: string; mask?: string; validate?: (v: string) => true | string}): Promise<string> {
    const {password} = await import('@inquirer/prompts')
    return password(question)
  }

  async confirm(message: string, defaultAnswer = false): Promise<boolean> {
    const {confirm} = await import('@inquirer/prompts')
    return confirm({message, default: defaultAnswer})
  }

  async select<T extends string>(message: string, choices: Array<{name: string; value: T}>): Promise<T> {
    const {select} = await import('@inquirer/prompts')
    return select({message, choices})
  }
}
