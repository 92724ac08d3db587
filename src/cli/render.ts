import {stripVTControlCharacters} from 'node:util'

import {Chalk, type ChalkInstance} from 'chalk'

import {isoSeconds} from '../domain/values.js'

/** Colour only on a terminal, and never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true
  return Boolean(stream.isTTY) && process.env.TERM !== 'dumb'
}

export function colors(stream: NodeJS.WriteStream = process.stdout): ChalkInstance {
  return new Chalk({level: colorEnabled(stream) ? 1 : 0})
}

export interface Column<T> {
  header: string
  get: (row: T) => string | number | null | undefined
}

/**
 * cli-table3 lays a table out in time quadratic in its rows (10,000 rows took 38 s), so a long list
 * is drawn in blocks of this many rows that share the same column widths: the same text, drawn fast.
 */
const TABLE_BLOCK = 200

/** A table for a list; an empty list says so instead of printing a bare header. */
export async function table<T>(rows: T[], columns: Array<Column<T>>, empty = 'nothing to show'): Promise<string> {
  if (rows.length === 0) return `(${empty})`
  const {default: Table} = await import('cli-table3')
  const c = colors()
  const cells = rows.map((row) => columns.map((col) => String(col.get(row) ?? '')))
  const colWidths =
    rows.length > TABLE_BLOCK ? columns.map((col, i) => cells.reduce((w, r) => Math.max(w, displayWidth(r[i])), displayWidth(col.header))) : undefined
  const blocks: string[] = []
  for (let i = 0; i < cells.length; i += TABLE_BLOCK) {
    const t = new Table({
      head: i === 0 ? columns.map((col) => c.bold(col.header)) : [],
      ...(colWidths ? {colWidths} : {}),
      style: {head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 0},
      chars: {top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
        left: '', 'left-mid': '', mid: '─', 'mid-mid': '──', right: '', 'right-mid': '', middle: '  '},
    })
    for (const row of cells.slice(i, i + TABLE_BLOCK)) t.push(row)
    blocks.push(t.toString())
  }
  return blocks.join('\n').split('\n').map((line) => line.trimEnd()).join('\n')
}

/** Columns on a terminal, never less than the truth: printable ASCII is 1, anything else counts 2. */
function displayWidth(text: string): number {
  let width = 0
  for (const ch of stripVTControlCharacters(text)) width += ch >= ' ' && ch <= '~' ? 1 : 2
  return width
}

/** Label: value lines for one object. */
export function details(pairs: Array<[string, string | number | null | undefined]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length))
  const c = colors()
  return pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${c.bold(k.padEnd(width))}  ${v ?? '-'}`)
    .join('\n')
}

export function date(seconds: number | null | undefined, none = 'never'): string {
  return isoSeconds(seconds) ?? none
}

export function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`
}
