/**
 * A progress bar on stderr, only when stderr is a terminal (never in CI logs or under --json). Redrawn
 * at most ten times a second.
 */
export function progressBar(label: string, enabled: boolean): {update(done: number, total: number): void; done(): void} {
  const stream = process.stderr
  if (!enabled || !stream.isTTY) return {update() {}, done() {}}
  let last = 0
  let drawn = false
  const draw = (done: number, total: number) => {
    const width = 30
    const ratio = total === 0 ? 1 : done / total
    const filled = Math.round(ratio * width)
    stream.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${done}/${total}`)
    drawn = true
  }
  return {
    update(done, total) {
      const now = performance.now()
      if (done < total && now - last < 100) return
      last = now
      draw(done, total)
    },
    done() {
      if (drawn) stream.write('\n')
    },
  }
}
