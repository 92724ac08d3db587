/** Seeded random inputs for the fuzz tests: the same on every run, another with LICADM_FUZZ_SEED=N. */
import {LicadmError} from '../../src/domain/errors.js'

export const FUZZ_SEED = Number(process.env.LICADM_FUZZ_SEED ?? 20_261_129)

/** mulberry32: a small seeded generator, so a failing input can be made again. */
export function generator(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * One way of damaging a text, chosen and placed by `random`: a changed, dropped or inserted
 * character, a cut, a doubled, reversed or upper-cased part, other line endings, the text twice or
 * nothing at all.
 */
export function damage(text: string, random: () => number): string {
  const at = Math.floor(random() * text.length)
  const len = 1 + Math.floor(random() * 40)
  const chars = 'A/+=-_.,"\n \u0000é😀-----{}'
  const char = () => chars[Math.floor(random() * chars.length)]
  const ways = [
    () => text.slice(0, at) + char() + text.slice(at + 1),
    () => text.slice(0, at) + text.slice(at + len),
    () => text.slice(0, at),
    () => text.slice(at),
    () => text.slice(0, at) + char() + text.slice(at),
    () => text.slice(0, at) + text.slice(at, at + len) + text.slice(at),
    () => text.replaceAll('\n', random() < 0.5 ? '\r\n' : '\n\n'),
    () => text.split('\n').reverse().join('\n'),
    () => text.slice(0, at) + text.slice(at, at + len).toUpperCase() + text.slice(at + len),
    () => text.replaceAll('.', random() < 0.5 ? '..' : ''),
    () => text + text,
    () => '',
  ]
  return ways[Math.floor(random() * ways.length)]()
}

/**
 * What went wrong, when `error` is not a typed refusal (a LicadmError with a documented exit status,
 * 2 to 19, and a message); undefined when it is one.
 */
export function crashOf(error: unknown, input: string): string | undefined {
  if (error instanceof LicadmError && error.exit >= 2 && error.exit <= 19 && error.message.length > 10) return undefined
  return `${(error as Error).name}: ${(error as Error).message}\n  on: ${JSON.stringify(input.slice(0, 200))}`
}
