import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {fileError, writeFileAtomic} from '../../src/domain/file-errors.js'
import {tempDir} from './helpers.js'

const tmp = tempDir()
afterAll(() => tmp.cleanup())

describe('writeFileAtomic', () => {
  it('replaces a file whole, with the mode asked (exactly, with exact), and leaves nothing else beside it', () => {
    const dir = join(tmp.dir, 'replace')
    mkdirSync(dir)
    const path = join(dir, 'key.pem')
    writeFileSync(path, 'old')
    const umask = process.umask(0o077)
    try {
      writeFileAtomic(path, 'new contents', 0o644)
      expect(statSync(path).mode & 0o777).toBe(0o600) // the umask narrows a mode that is not exact
      writeFileAtomic(path, 'newer', 0o640, {exact: true})
      expect(statSync(path).mode & 0o777).toBe(0o640)
    } finally {
      process.umask(umask)
    }
    expect(readFileSync(path, 'utf8')).toBe('newer')
    expect(readdirSync(dir)).toEqual(['key.pem'])
  })

  it('never writes through a link: the file at the path is replaced, the link target untouched', () => {
    const dir = join(tmp.dir, 'link')
    mkdirSync(dir)
    const target = join(dir, 'elsewhere.txt')
    writeFileSync(target, 'keep me')
    const path = join(dir, 'out.txt')
    symlinkSync(target, path)
    writeFileAtomic(path, 'written', 0o600)
    expect(readFileSync(target, 'utf8')).toBe('keep me')
    expect(statSync(path).isFile()).toBe(true)
    expect(readFileSync(path, 'utf8')).toBe('written')
  })

  it('a write that fails leaves no temporary file and throws the system error, which fileError words', () => {
    const dir = join(tmp.dir, 'fails')
    mkdirSync(dir)
    const onto = join(dir, 'a-directory')
    mkdirSync(onto)
    let thrown: unknown
    try {
      writeFileAtomic(onto, 'x', 0o600)
    } catch (error) {
      thrown = error
    }
    expect((thrown as NodeJS.ErrnoException).code).toMatch(/EISDIR|ENOTEMPTY|EEXIST/)
    expect(readdirSync(dir)).toEqual(['a-directory'])
    expect(fileError(thrown as NodeJS.ErrnoException, 'write', {path: onto, flag: '--out'}).message).toMatch(/^--out: cannot write .*a-directory: /)
    expect(existsSync(join(dir, 'missing', 'x'))).toBe(false)
    expect(() => writeFileAtomic(join(dir, 'missing', 'x'), 'x', 0o600)).toThrow(/ENOENT/)
  })
})
