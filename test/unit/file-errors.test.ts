import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {readInput, writeOutput} from '../../src/cli/files.js'
import {fileError, writeFileAtomic} from '../../src/domain/file-errors.js'
import {detectFormat} from '../../src/services/bulk.js'
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

/** A system error as node:fs raises it. */
function systemError(code: string, syscall: string, path?: string): NodeJS.ErrnoException {
  const error = new Error(`${code}: something, ${syscall}`) as NodeJS.ErrnoException
  error.code = code
  error.syscall = syscall
  if (path !== undefined) error.path = path
  return error
}

describe('fileError: the reason in plain words', () => {
  it('says "does not exist" only for ENOENT, and then what does not exist', () => {
    const dir = join(tmp.dir, 'reasons')
    mkdirSync(dir)
    expect(fileError(systemError('ENOENT', 'open'), 'write', {path: join(dir, 'missing', 'x.lic'), flag: '--out'}).message).toMatch(/: its directory does not exist$/)
    expect(fileError(systemError('ENOENT', 'open'), 'read', {path: join(dir, 'x.lic')}).message).toMatch(/: it does not exist$/)
    // A write refused with ENOENT in a directory that is there (/proc, /sys): not "does not exist".
    const refused = fileError(systemError('ENOENT', 'open'), 'write', {path: join(dir, 'x.lic'), flag: '--out'}).message
    expect(refused).not.toMatch(/does not exist/)
    expect(refused).toMatch(/: no new file can be created in its directory/)
    for (const [code, words] of [
      ['EACCES', 'permission denied'],
      ['EPERM', 'permission denied'],
      ['EROFS', 'the file system is read-only'],
      ['EISDIR', 'it is a directory'],
      ['ENOSPC', 'no space left on the disk'],
    ]) {
      expect(fileError(systemError(code, 'open'), 'write', {path: '/x/y', flag: '--out'}).message).toBe(`--out: cannot write /x/y: ${words}`)
    }
  })

  it('words any other system error as the system does, without its code and call', () => {
    const error = systemError('EPIPE', 'write', '/x/y')
    error.errno = -32
    expect(fileError(error, 'write').message).toBe('cannot write /x/y: broken pipe')
  })

  it('a read error has a hint for reading, never "writable"', () => {
    const e = fileError(systemError('EISDIR', 'read'), 'read', {path: '/tmp', what: 'license file'})
    expect(e).toMatchObject({code: 'FILE_ERROR', exit: 2, message: 'cannot read /tmp: it is a directory'})
    expect(e.hint).toBe('Check the path of the license file: it must be a file you can read.')
    expect(fileError(systemError('EACCES', 'open', '/x'), 'read').hint).not.toMatch(/writable/)
  })
})

describe('readInput and writeOutput', () => {
  it('a directory given to read is refused in plain words, with no flag when an argument named it', () => {
    const dir = join(tmp.dir, 'read-dir')
    mkdirSync(dir)
    let error: any
    try {
      readInput(dir, 'license file')
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({code: 'FILE_ERROR', exit: 2, message: `cannot read ${dir}: it is a directory`})
    expect(error.details?.flag).toBeUndefined()
    expect(error.hint).not.toMatch(/writable/)
    expect(() => readInput(dir, '--from')).toThrow(`--from: cannot read ${dir}: it is a directory`)
  })

  it('a directory given to write is refused as a directory, --force or not (not "exists already")', () => {
    const dir = join(tmp.dir, 'write-dir')
    mkdirSync(dir)
    for (const force of [false, true]) {
      let error: any
      try {
        writeOutput(dir, 'x', {force})
      } catch (e) {
        error = e
      }
      expect(error).toMatchObject({code: 'INVALID_VALUE', exit: 2, message: `--out: cannot write ${dir}: it is a directory`, details: {flag: '--out'}})
      expect(error.hint).not.toMatch(/--force/)
    }
    expect(readdirSync(dir)).toEqual([])
  })

  it.skipIf(!existsSync('/proc/version'))('a file that exists but cannot be replaced (/proc/version) is not said not to exist', () => {
    expect(() => writeOutput('/proc/version', 'x', {force: true})).toThrow(/^--out: cannot write \/proc\/version: (?!.*does not exist)/)
  })
})

describe('detectFormat', () => {
  it('names standard input when it cannot tell its format', () => {
    expect(() => detectFormat('-')).toThrow('--format: cannot tell the format of standard input: give --format csv or --format ndjson')
    expect(() => detectFormat('rows.txt')).toThrow('cannot tell the format of "rows.txt"')
    expect(detectFormat('-', 'ndjson')).toBe('ndjson')
  })
})
