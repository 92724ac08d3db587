import {describe, expect, it} from 'vitest'

import {parseCsv} from '../../src/formats/csv.js'

const cells = (text: string) => parseCsv(text).records.map((r) => r.cells)
const lines = (text: string) => parseCsv(text).records.map((r) => r.line)

describe('parseCsv', () => {
  it('splits plain records and numbers their lines from 1', () => {
    const {records, error} = parseCsv('product,quantity\n1,5\n2,7\n')
    expect(error).toBeUndefined()
    expect(records).toEqual([
      {line: 1, cells: ['product', 'quantity']},
      {line: 2, cells: ['1', '5']},
      {line: 3, cells: ['2', '7']},
    ])
  })

  it('keeps a last record without a final line break, and empty cells', () => {
    expect(cells('a,b\n1,')).toEqual([['a', 'b'], ['1', '']])
    expect(cells(',,')).toEqual([['', '', '']])
    expect(cells('')).toEqual([])
  })

  it('reads quoted cells with commas, doubled quotes and an empty quoted cell', () => {
    expect(cells('customer,note\n"ACME, Inc.","say ""hi"""\n""," x "\n')).toEqual([
      ['customer', 'note'],
      ['ACME, Inc.', 'say "hi"'],
      ['', ' x '],
    ])
  })

  it('accepts CRLF line ends, and a lone CR', () => {
    expect(parseCsv('a,b\r\n1,2\r\n3,4\r\n').records).toEqual([
      {line: 1, cells: ['a', 'b']},
      {line: 2, cells: ['1', '2']},
      {line: 3, cells: ['3', '4']},
    ])
    expect(cells('a\r1\r')).toEqual([['a'], ['1']])
  })

  it('keeps line breaks inside quoted cells and numbers the following records by physical line', () => {
    const text = 'a,b\n"one\ntwo\nthree",x\n2,y\r\n"p\r\nq",z\n4,w\n'
    const {records, error} = parseCsv(text)
    expect(error).toBeUndefined()
    expect(records.map((r) => r.cells)).toEqual([['a', 'b'], ['one\ntwo\nthree', 'x'], ['2', 'y'], ['p\r\nq', 'z'], ['4', 'w']])
    expect(records.map((r) => r.line)).toEqual([1, 2, 5, 6, 8])
  })

  it('ignores a leading byte-order mark (and only a leading one)', () => {
    expect(cells('\uFEFFproduct,kind\n1,single\n')).toEqual([['product', 'kind'], ['1', 'single']])
    expect(cells('a\n\uFEFFb\n')).toEqual([['a'], ['\uFEFFb']])
  })

  it('reports a quote that is never closed on the line where it opens', () => {
    const {error} = parseCsv('a,b\n1,2\n3,"open\nmore\nstill open\n')
    expect(error).toEqual({line: 3, message: 'a quoted cell is never closed'})
    expect(parseCsv('"x').error?.line).toBe(1)
  })

  it('refuses a quote inside an unquoted cell, on its line', () => {
    const {error, records} = parseCsv('a,b\n1,2\nab"c,3\n')
    expect(error).toEqual({line: 3, message: 'a quote appears inside an unquoted cell'})
    expect(records).toHaveLength(2)
  })

  it('counts empty lines as records of one empty cell, keeping later line numbers right', () => {
    expect(lines('a\n\nb\n')).toEqual([1, 2, 3])
    expect(cells('a\n\nb\n')).toEqual([['a'], [''], ['b']])
  })
})
