// Prints the plain "N passed, N failed" line from vitest's JSON report. A test file that fails to
// load has no test results of its own; it counts as one failure so it can never pass unnoticed.
import {readFileSync} from 'node:fs'

const file = process.argv[2]
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch (error) {
  console.log('0 passed, 1 failed')
  console.error(`no test report at ${file}: ${error.message}`)
  process.exit(1)
}
const brokenFiles = report.testResults.filter(
  (r) => r.status === 'failed' && !r.assertionResults.some((a) => a.status === 'failed'),
).length
const failed = report.numFailedTests + brokenFiles
const skipped = report.numPendingTests + report.numTodoTests
console.log(`${report.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed > 0 || report.numPassedTests === 0 ? 1 : 0)
