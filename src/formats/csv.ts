/** A CSV record and the line it starts on (a quoted cell may span lines). */
export interface CsvRecord {
  line: number
  cells: string[]
}

/**
 * RFC 4180 CSV: comma-separated, double quotes around cells with commas, quotes or line breaks,
 * quotes doubled inside them; CRLF or LF; a leading byte-order mark is ignored.
 */
export function parseCsv(text: string): {records: CsvRecord[]; error?: {line: number; message: string}} {
  const records: CsvRecord[] = []
  let cells: string[] = []
  let cell = ''
  let line = 1
  let recordLine = 1
  let quoted = false
  let quoteLine = 0
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  const endRecord = () => {
    cells.push(cell)
    records.push({line: recordLine, cells})
    cells = []
    cell = ''
  }
  for (; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"'
          i++
        } else {
          quoted = false
        }
      } else {
        if (c === '\n') line++
        cell += c
      }
    } else if (c === '"') {
      if (cell !== '') return {records, error: {line, message: 'a quote appears inside an unquoted cell'}}
      quoted = true
      quoteLine = line
    } else if (c === ',') {
      cells.push(cell)
      cell = ''
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++
      endRecord()
      line++
      recordLine = line
    } else {
      cell += c
    }
  }
  if (quoted) return {records, error: {line: quoteLine, message: 'a quoted cell is never closed'}}
  if (cell !== '' || cells.length > 0) endRecord()
  return {records}
}
