#!/usr/bin/env node
/**
 * Generates the roff man pages in man/ from oclif.manifest.json, package.json (topics, plugins) and
 * the exit-status table of dist/domain/errors.js:
 *
 *   man/licadm.1          the overview: commands, global options, environment, exit status, files
 *   man/licadm-TOPIC.1    one page per topic (every command under it, nested topics included)
 *   man/licadm-CMD.1      one page per top-level command that has no topic of its own
 *
 * Usage: node scripts/gen-man.mjs [--out DIR]
 *   Without --out it writes to man/, removes pages that no command produces any more and keeps the
 *   "man" list of package.json in step. With --out DIR it only writes the pages to DIR (the docs test
 *   uses that to compare a fresh generation with man/).
 *
 * The output depends on nothing but those inputs (no clock, no machine paths), so it can be compared
 * byte for byte.
 */
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** Environment variables every page documents; flag `env` settings found in the manifest are added. */
export const ENVIRONMENT = [
  ['LICADM_CONFIG_DIR', 'The configuration directory: config.json (profiles and the current one) and the private signing keys. Default: $XDG_CONFIG_HOME/licadm, else ~/.config/licadm.'],
  ['LICADM_DATA_DIR', "The data directory: each profile's SQLite store. Default: $XDG_DATA_HOME/licadm, else ~/.local/share/licadm."],
  ['LICADM_PROFILE', 'The vendor profile to use, as --profile (which wins when both are given). Default: the current profile (see "profile use").'],
  ['LICADM_KEY_PASSPHRASE', 'The passphrase of the signing key: new keys (init, key rotate, a new `server start --data` directory) are encrypted with it (a new passphrase needs at least 8 characters, as a typed one does), and an encrypted key is unlocked with it. Without it an encrypted key is asked for in a terminal. It is never printed.'],
  ['LICADM_NOW', 'Pretend the current time is this ISO 8601 date-time (e.g. 2030-01-01T00:00:00Z), for tests and drills: issue times, validity windows and expiry are computed from it.'],
  ['LICADM_SERVER', "The license server to work against (as --server): administration commands then run remotely, and the seat and server commands talk to it. Default: the profile's server, if set."],
  ['LICADM_TOKEN', 'The API token for the server (as --token, which shows in the process list: prefer this). Never printed.'],
  ['LICADM_CA', "A PEM file of the CA certificates to trust for the server's HTTPS (as --ca)."],
  ['LICADM_CLIENT_TOKEN', 'server start: a client token for the seat API (as --client-token). Never logged.'],
  ['LICADM_ADMIN_TOKEN', 'server start: a vendor (admin) token (as --admin-token). Never logged.'],
  ['LICADM_CONTAINER_SECRET', "An enterprise or personal container's secret, for the commands that hand it on (device activate --saw, saw create) when no --credentials file is given. Never printed."],
  ['LICADM_DEVICE_DIR', 'The device directory of the device commands (identity, device keys, credentials, trusted vendor keys). Default: "device" in the data directory.'],
  ['LICADM_LEASE_ID', 'Set by seat run for the command it runs: the id of the lease that holds its seat.'],
  ['LICADM_LICENSE_ID', 'Set by seat run for the command it runs: the license of that lease.'],
  ['LICADM_P12_PASSPHRASE', 'server cert export --p12: the passphrase of the PKCS#12 file (else asked in a terminal).'],
  ['NO_COLOR', 'When set to a non-empty value, output has no colour.'],
  ['FORCE_COLOR', 'When set (and not 0), output is coloured even when it is not a terminal.'],
  ['CI', 'When set (and not 0 or false), licadm never prompts: a missing value is refused with the name of its flag (exit 2), and destructive commands need --yes.'],
  ['DEBUG', 'When set, an unexpected internal error (exit 1) is printed with its stack trace; DEBUG=* also shows the debug output of oclif.'],
]

const FILES = [
  ['$LICADM_CONFIG_DIR/config.json', 'The profiles (vendor code and name, whether the key is encrypted) and the current profile. Mode 0600.'],
  ['$LICADM_CONFIG_DIR/profiles/NAME/keys/KID.pem', "A profile's private Ed25519 signing keys, one PEM file per key id (KID), mode 0600; encrypted when LICADM_KEY_PASSPHRASE was set or --encrypt given. Never exported."],
  ['$LICADM_DATA_DIR/profiles/NAME/licadm.db', "The profile's store (SQLite, WAL mode): products, licenses, public keys, idempotency keys."],
]

const DESCRIPTION = `licadm administers software licensing for a vendor: it keeps the vendor's Ed25519 signing keys, the products and the licenses issued for them, and writes signed license files that applications verify offline with the vendor's public key.

Commands work on a vendor profile (see licadm-profile(1)): a vendor code and name, its signing keys and its store. The profile is the one named by --profile or LICADM_PROFILE, else the current one. "licadm init" creates the first one.

License files are JWS in compact serialization (RFC 7515), algorithm EdDSA (Ed25519), type licadm-license+jwt, with the key id (kid, the RFC 7638 thumbprint of the public key), armored between "-----BEGIN LICADM LICENSE-----" and "-----END LICADM LICENSE-----" lines. Any JOSE library verifies them with the key from "licadm key export".

In a terminal, missing required values are asked for and destructive commands ask for confirmation. Without a terminal, with CI set or with --json, licadm never prompts: a missing value is refused with the name of its flag, and destructive commands need --yes.`

const EXAMPLES = [
  ['Create a vendor profile with its signing key:', 'licadm init --vendor-code 1001 --name "Acme Software"'],
  ['Create a product and issue a license for it, valid for a year:', 'licadm product create --code 7 --name "Acme CAD"\nlicadm license create --product 7 --expires 365d --customer Globex'],
  ['Write the signed license file and the public key, then verify the file as a customer would:', 'licadm license export TICKET --out globex.lic\nlicadm key export --out vendor.pem\nlicadm license verify globex.lic --public-key vendor.pem'],
  ['Issue licenses in bulk from a CSV file in CI; a re-run issues nothing twice:', 'CI=1 licadm license create --from licenses.csv --json'],
  ['Try the whole job in a throwaway profile:', 'licadm demo'],
]

const JSON_ENVELOPE =
  'Print one JSON document on standard output instead of text: {"ok":true,"result":...} on success, {"ok":false,"error":{"code","message","exitCode","hint","details"}} on failure. The exit status is the same as without --json, and nothing is ever asked.'

// ---------------------------------------------------------------------------------------------
// roff

const CHARS = new Map([
  ['\u2014', '\\(em'], // —
  ['\u2013', '\\(en'], // –
  ['\u2192', '\\(->'], // →
  ['\u2190', '\\(<-'], // ←
  ['\u201C', '\\(lq'], // “
  ['\u201D', '\\(rq'], // ”
  ['\u2018', '\\(oq'], // ‘
  ['\u2019', '\\(cq'], // ’
  ['\u2026', '...'], // …
  ['\u00D7', '\\(mu'], // ×
  ['\u2264', '\\(<='], // ≤
  ['\u2265', '\\(>='], // ≥
  ['\u2022', '\\(bu'], // •
  ['\u00A0', '\\ '], // no-break space
  ['\u2713', 'ok'], // ✓
  ['\u2717', 'x'], // ✗
])

/** Escapes text for roff: backslashes, hyphens (as \-), characters outside ASCII. */
export function esc(text) {
  let out = ''
  for (const ch of String(text)) {
    if (ch === '\\') out += '\\e'
    else if (ch === '-') out += '\\-'
    else if (ch === '\t') out += ' '
    else if (ch.codePointAt(0) < 0x80) out += ch
    else out += CHARS.get(ch) ?? `\\[u${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`
  }
  return out
}

/** A text line: escaped, and guarded so that a leading dot or apostrophe is not read as a request. */
function line(text) {
  const s = esc(text)
  return /^[.']/.test(s) ? `\\&${s}` : s
}

/** A line of already-escaped roff (with font escapes), guarded the same way. */
function raw(s) {
  return /^[.']/.test(s) ? `\\&${s}` : s
}

/** A macro argument: escaped, quoted when needed. */
function arg(text) {
  const s = esc(text).replaceAll('"', '\\(dq')
  return /[\s]/.test(s) || s === '' ? `"${s}"` : s
}

const B = (s) => `\\fB${esc(s)}\\fR`
const I = (s) => `\\fI${esc(s)}\\fR`

/**
 * Prose as oclif help has it: paragraphs between blank lines, bullet lines ("- ", "* ") as a list,
 * indented lines (after text, not inside a list) as a verbatim block.
 */
function prose(text) {
  const out = []
  const paragraphs = String(text).replaceAll('\r', '').trim().split(/\n[ \t]*\n/)
  paragraphs.forEach((paragraph, i) => {
    if (i > 0) out.push('.PP')
    let mode = 'text'
    for (const l of paragraph.split('\n')) {
      if (l.trim() === '') continue
      const bullet = /^\s*[-*\u2022] /.test(l)
      const indented = /^(\s{2,}|\t)/.test(l)
      if (bullet) {
        if (mode === 'code') out.push('.EE', '.RE')
        if (mode !== 'list') out.push('.PD 0')
        out.push('.IP \\(bu 2', line(l.replace(/^\s*[-*\u2022] /, '').trim()))
        mode = 'list'
      } else if (indented && mode === 'list') {
        out.push(line(l.trim()))
      } else if (indented) {
        if (mode !== 'code') out.push('.RS 4', '.EX')
        out.push(line(l.replace(/^(\s{2,}|\t)/, '').trimEnd()))
        mode = 'code'
      } else {
        if (mode === 'code') out.push('.EE', '.RE', '.PP')
        if (mode === 'list') out.push('.PD', '.PP')
        out.push(line(l.trim()))
        mode = 'text'
      }
    }
    if (mode === 'code') out.push('.EE', '.RE')
    if (mode === 'list') out.push('.PD')
  })
  return out
}

// ---------------------------------------------------------------------------------------------
// model

/** oclif's <%= config.bin %> and <%= command.id %>, with spaces between topics. */
function render(text, bin, id) {
  return String(text ?? '')
    .replace(/<%[=-]\s*config\.bin\s*%>/g, bin)
    .replace(/<%[=-]\s*command\.id\s*%>/g, id ?? '')
}

function displayId(id, separator) {
  return id.replaceAll(':', separator)
}

/** The first sentence-ish line of a text, for lists. */
function firstLine(text) {
  return String(text ?? '').trim().split('\n')[0].trim()
}

function pageName(bin, id) {
  return `${bin}-${id.split(':')[0]}`
}

function isGlobal(flag) {
  return flag.helpGroup === 'GLOBAL'
}

/** `-p, --product=value` as roff. */
function flagLabel(flag) {
  const names = []
  if (flag.char) names.push(B(`-${flag.char}`))
  names.push(flag.type === 'boolean' && flag.allowNo ? `${B('--')}[${B('no-')}]${B(flag.name)}` : B(`--${flag.name}`))
  let label = names.join(', ')
  if (flag.type !== 'boolean') label += `=${flagValue(flag)}`
  return label
}

function flagValue(flag) {
  if (flag.options?.length) return flag.options.map((o) => I(o)).join('|\\:')
  return I(flag.helpValue ? String(flag.helpValue).replace(/^<|>$/g, '') : 'value')
}

/** `[-p|--product=value]` for a synopsis. */
function flagSynopsis(flag) {
  const names = []
  if (flag.char) names.push(B(`-${flag.char}`))
  names.push(B(`--${flag.name}`))
  const value = flag.type === 'boolean' ? '' : `=${flagValue(flag)}`
  const item = `${names.join('|')}${value}${flag.multiple ? ' ...' : ''}`
  return flag.required ? item : `[${item}]`
}

function argSynopsis(name, a) {
  const item = I(name.toUpperCase())
  return a.required ? item : `[${item}]`
}

function flagNotes(flag) {
  const notes = []
  if (flag.required) notes.push('Required.')
  if (flag.multiple) notes.push('Repeatable.')
  if (flag.options?.length && flag.type !== 'boolean') notes.push(`One of: ${flag.options.map((o) => B(o)).join(', ')}.`)
  if (flag.default !== undefined && flag.default !== false && !(Array.isArray(flag.default) && flag.default.length === 0)) {
    notes.push(`Default: ${B(Array.isArray(flag.default) ? flag.default.join(',') : String(flag.default))}.`)
  }
  if (flag.env) notes.push(`Environment: ${B(flag.env)}.`)
  if (flag.aliases?.length) notes.push(`Also: ${flag.aliases.map((a) => B(a.length === 1 ? `-${a}` : `--${a}`)).join(', ')}.`)
  if (flag.exclusive?.length) notes.push(`Not with ${flag.exclusive.map((f) => B(`--${f}`)).join(', ')}.`)
  if (flag.dependsOn?.length) notes.push(`Needs ${flag.dependsOn.map((f) => B(`--${f}`)).join(', ')}.`)
  if (flag.relationships?.length) {
    for (const r of flag.relationships) {
      const names = (r.flags ?? []).map((f) => B(`--${typeof f === 'string' ? f : f.name}`)).join(', ')
      if (names) notes.push(`${r.type === 'all' ? 'Needs all of' : r.type === 'some' ? 'Needs one of' : 'Not with'} ${names}.`)
    }
  }
  return notes
}

function examplesOf(command, bin, separator) {
  const id = displayId(command.id, separator)
  const list = command.examples === undefined ? [] : Array.isArray(command.examples) ? command.examples : [command.examples]
  return list.map((e) => {
    const {description, command: cmd} = typeof e === 'string' ? {description: undefined, command: e} : e
    const lines = render(cmd, bin, id).split('\n')
    return {
      description: description === undefined ? undefined : render(description, bin, id),
      lines: lines.map((l, i) => (i === 0 && !l.startsWith('$ ') ? `$ ${l}` : l)),
    }
  })
}

// ---------------------------------------------------------------------------------------------
// pages

function header(title, version, bin) {
  return [
    `.\\" Generated by scripts/gen-man.mjs from oclif.manifest.json: do not edit; run "npm run docs".`,
    `.TH ${arg(title.toUpperCase())} 1 "" ${arg(`${bin} ${version}`)} ${arg(`${bin} manual`)}`,
  ]
}

function environmentSection(envs) {
  const out = ['.SH ENVIRONMENT']
  for (const [name, text] of envs) out.push('.TP', raw(B(name)), line(text))
  return out
}

function exitSection(table) {
  const out = ['.SH "EXIT STATUS"']
  for (const row of table) out.push('.TP', raw(B(String(row.code))), line(`${row.meaning[0].toUpperCase()}${row.meaning.slice(1)}.`))
  return out
}

function seeAlso(pages, self) {
  const refs = pages.filter((p) => p !== self).map((p) => `${B(p)}(1)`)
  return ['.SH "SEE ALSO"', raw(refs.join(',\n'))]
}

/** The parts of a command's documentation, each a list of roff lines. */
function commandParts(command, ctx) {
  const id = displayId(command.id, ctx.separator)
  const full = `${ctx.bin} ${id}`
  const flags = Object.values(command.flags ?? {}).filter((f) => !f.hidden)
  const own = flags.filter((f) => !isGlobal(f))
  const global = flags.filter(isGlobal)
  const args = Object.entries(command.args ?? {}).filter(([, a]) => !a.hidden)

  const summary = []
  if (command.deprecationOptions || command.state === 'deprecated') summary.push(line('Deprecated.'), '.PP')
  summary.push(...prose(render(command.summary ?? firstLine(command.description), ctx.bin, id)))

  const usage = [`.SY ${arg(full)}`]
  for (const [name, a] of args) usage.push(raw(argSynopsis(name, a)))
  for (const f of [...own, ...global]) usage.push(raw(flagSynopsis(f)))
  usage.push('.YS')

  const description = command.summary && command.description ? prose(render(command.description, ctx.bin, id)) : []

  const argLines = []
  for (const [name, a] of args) {
    argLines.push('.TP', raw(I(name.toUpperCase())))
    argLines.push(line(render(a.description ?? '', ctx.bin, id)))
    const notes = []
    if (a.required) notes.push('Required.')
    if (a.options?.length) notes.push(`One of: ${a.options.map((o) => B(o)).join(', ')}.`)
    if (a.default !== undefined) notes.push(`Default: ${B(String(a.default))}.`)
    if (notes.length) argLines.push(raw(notes.join(' ')))
  }

  const options = []
  for (const f of own) {
    options.push('.TP', raw(flagLabel(f)))
    const text = render(f.summary ?? f.description ?? '', ctx.bin, id)
    options.push(line(text))
    if (f.summary && f.description && f.description !== f.summary) options.push(...prose(render(f.description, ctx.bin, id)))
    const notes = flagNotes(f).filter((n) => !(n === 'Repeatable.' && /repeatable/i.test(text)))
    if (notes.length) options.push(raw(notes.join(' ')))
  }
  if (global.length > 0) {
    options.push('.TP', raw(global.map((f) => B(`--${f.name}`)).join(', ')))
    options.push(raw(`The global options: see ${B(ctx.bin)}(1).`))
  }

  const examples = []
  examplesOf(command, ctx.bin, ctx.separator).forEach((e, i) => {
    if (e.description) examples.push(...(i > 0 ? ['.PP'] : []), ...prose(e.description))
    examples.push('.EX', ...e.lines.map((l) => line(l)), '.EE')
  })

  return {full, summary, usage, description, args: argLines, options, examples}
}

/** One command's subsection of a topic page: usage, description, arguments, options, examples. */
function commandSection(command, ctx) {
  const p = commandParts(command, ctx)
  const out = [`.SS ${arg(p.full)}`, ...p.summary]
  out.push('.PP', raw(B('Usage:')), '.RS 4', ...p.usage, '.RE')
  if (p.description.length) out.push('.PP', ...p.description)
  if (p.args.length) out.push('.PP', raw(B('Arguments:')), '.RS 4', ...p.args, '.RE')
  if (p.options.length) out.push('.PP', raw(B('Options:')), '.RS 4', ...p.options, '.RE')
  if (p.examples.length) out.push('.PP', raw(B('Examples:')), '.RS 4', ...p.examples, '.RE')
  return out
}

/** The page of a top-level command without a topic: its parts as sections of their own. */
function commandPage(command, ctx) {
  const page = `${ctx.bin}-${command.id}`
  const p = commandParts(command, ctx)
  const out = [...header(page, ctx.version, ctx.bin)]
  out.push('.SH NAME', line(`${page} - ${firstLine(render(command.summary ?? command.description ?? '', ctx.bin, command.id)).replace(/\.$/, '')}`))
  out.push('.SH SYNOPSIS', ...p.usage)
  out.push('.SH DESCRIPTION', ...(p.description.length ? p.description : p.summary))
  if (p.args.length) out.push('.SH ARGUMENTS', ...p.args)
  if (p.options.length) out.push('.SH OPTIONS', ...p.options)
  if (p.examples.length) out.push('.SH EXAMPLES', '.RS 4', ...p.examples, '.RE')
  out.push(...environmentSection(ctx.environment))
  out.push(...exitSection(ctx.exitCodes))
  out.push(...seeAlso(ctx.pages, page))
  return out
}

function topicPage(name, commands, ctx) {
  const page = `${ctx.bin}-${name}`
  const topic = ctx.topics[name]
  const summary = topic?.description ?? `The ${name} commands.`
  const out = [...header(page, ctx.version, ctx.bin)]
  out.push('.SH NAME', line(`${page} - ${firstLine(render(summary, ctx.bin, name)).replace(/\.$/, '')}`))
  out.push('.SH SYNOPSIS')
  for (const c of commands) {
    const id = displayId(c.id, ctx.separator)
    out.push(`.SY ${arg(`${ctx.bin} ${id}`)}`)
    for (const [argName, a] of Object.entries(c.args ?? {}).filter(([, a]) => !a.hidden)) out.push(raw(argSynopsis(argName, a)))
    out.push(raw(`[${I('options')}]`), '.YS')
  }
  out.push('.SH DESCRIPTION', ...prose(render(summary, ctx.bin, name)))
  const globals = ctx.globalFlags.map((f) => B(`--${f.name}`))
  out.push('.PP', raw(`Every command also accepts the global options ${[...globals, B('--help')].join(', ')}: see ${B(ctx.bin)}(1).`))
  out.push('.SH COMMANDS')
  for (const c of commands) out.push(...commandSection(c, ctx))
  out.push(...environmentSection(ctx.environment))
  out.push(...exitSection(ctx.exitCodes))
  out.push(...seeAlso(ctx.pages, page))
  return out
}

function mainPage(groups, ctx) {
  const {bin} = ctx
  const out = [...header(bin, ctx.version, bin)]
  out.push('.SH NAME', line(`${bin} - ${firstLine(ctx.description).split(/[:.]/)[0]}`))
  out.push('.SH SYNOPSIS')
  out.push(`.SY ${bin}`, raw(`${I('topic')} ${I('command')}`), raw(`[${I('arguments')}]`), raw(`[${I('options')}]`), '.YS')
  out.push(`.SY ${bin}`, raw(`${I('command')}`), raw(`[${I('arguments')}]`), raw(`[${I('options')}]`), '.YS')
  out.push(`.SY ${bin}`, raw(`${I('command')} ${B('--help')}`), '.YS')
  out.push(`.SY ${bin}`, raw(ctx.versionFlags.map((f) => B(f)).join('|')), '.YS')
  out.push('.SH DESCRIPTION', ...prose(DESCRIPTION))

  out.push('.SH COMMANDS')
  const isLone = (g) => g.commands.length === 1 && g.commands[0].id === g.name
  const lone = groups.filter(isLone)
  const topics = groups.filter((g) => !isLone(g))
  out.push(raw(`Each topic and each of these commands has a page of its own with every option and example, e.g. ${B(`${bin}-${(topics[0] ?? groups[0])?.name ?? 'help'}`)}(1).`))
  for (const g of lone) {
    const c = g.commands[0]
    out.push('.TP', raw(B(`${bin} ${displayId(c.id, ctx.separator)}`)))
    out.push(line(render(c.summary ?? firstLine(c.description), bin, c.id)), raw(`See ${B(`${bin}-${g.name}`)}(1).`))
  }
  for (const g of topics) {
    out.push(`.SS ${arg(`${bin} ${g.name}`)}`)
    out.push(...prose(render(ctx.topics[g.name]?.description ?? `The ${g.name} commands.`, bin, g.name)))
    out.push(raw(`See ${B(`${bin}-${g.name}`)}(1).`))
    for (const c of g.commands) {
      const id = displayId(c.id, ctx.separator)
      out.push('.TP', raw(B(`${bin} ${id}`)))
      out.push(line(render(c.summary ?? firstLine(c.description), bin, id)))
    }
  }
  if (ctx.pluginCommands.length > 0) {
    out.push('.SS "Other commands"')
    for (const c of ctx.pluginCommands) {
      const id = displayId(c.id, ctx.separator)
      out.push('.TP', raw(B(`${bin} ${id}`) + Object.entries(c.args ?? {}).map(([n, a]) => ` ${argSynopsis(n, a)}`).join('')))
      out.push(line(render(c.summary ?? firstLine(c.description), bin, id)))
      const examples = examplesOf(c, bin, ctx.separator).slice(0, 2)
      if (examples.length > 0) out.push('.RS 4', '.EX', ...examples.flatMap((e) => e.lines.map((l) => line(l))), '.EE', '.RE')
    }
  }

  out.push('.SH "GLOBAL OPTIONS"')
  out.push(line('Every command accepts these options.'))
  for (const f of ctx.globalFlags) {
    out.push('.TP', raw(flagLabel(f)))
    out.push(line(f.name === 'json' ? JSON_ENVELOPE : render(f.summary ?? f.description ?? '', bin, '')))
    const notes = flagNotes(f)
    if (notes.length) out.push(raw(notes.join(' ')))
  }
  out.push('.TP', raw(ctx.helpFlags.map((f) => B(f)).join(', ')), line('Show the help of licadm, of a topic or of a command, and exit.'))
  out.push('.TP', raw(ctx.versionFlags.map((f) => B(f)).join(', ')), line('Show the version of licadm, the platform and the Node.js version, and exit.'))

  out.push(...environmentSection(ctx.environment))
  out.push(...exitSection(ctx.exitCodes))
  out.push('.SH FILES')
  for (const [path, text] of FILES) out.push('.TP', raw(I(path)), line(text))
  out.push('.SH EXAMPLES')
  EXAMPLES.forEach(([text, cmd], i) => {
    if (i > 0) out.push('.PP')
    out.push(line(text), '.RS 4', '.EX', ...cmd.split('\n').map((l) => line(`$ ${l}`)), '.EE', '.RE')
  })
  out.push(...seeAlso(ctx.pages, bin))
  return out
}

// ---------------------------------------------------------------------------------------------
// entry points

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'))
}

function pluginRoot(require, root, name) {
  const local = join(root, 'node_modules', name)
  if (existsSync(join(local, 'package.json'))) return local
  let dir = dirname(require.resolve(name))
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}

/** Everything a generation reads, from a project root. */
export async function loadInputs(root = ROOT) {
  const pkg = readJson(join(root, 'package.json'))
  const manifestPath = join(root, 'oclif.manifest.json')
  if (!existsSync(manifestPath)) throw new Error(`${manifestPath} is missing: run "npm run build:fast" first`)
  const manifest = readJson(manifestPath)
  const errorsPath = join(root, 'dist', 'domain', 'errors.js')
  if (!existsSync(errorsPath)) throw new Error(`${errorsPath} is missing: run "npm run build:fast" first`)
  const {EXIT_CODE_TABLE} = await import(pathToFileURL(errorsPath).href)
  const require = createRequire(join(root, 'package.json'))
  const pluginCommands = []
  for (const plugin of pkg.oclif?.plugins ?? []) {
    let pluginManifest
    try {
      pluginManifest = readJson(join(pluginRoot(require, root, plugin), 'oclif.manifest.json'))
    } catch {
      continue
    }
    for (const c of Object.values(pluginManifest.commands ?? {})) if (!c.hidden) pluginCommands.push(c)
  }
  return {pkg, manifest, exitCodes: EXIT_CODE_TABLE, pluginCommands}
}

/** The pages, by file name, in order: licadm.1 first, then the others by name. */
export function renderPages({pkg, manifest, exitCodes, pluginCommands}) {
  const oclif = pkg.oclif ?? {}
  const bin = oclif.bin ?? pkg.name
  const separator = oclif.topicSeparator ?? ':'
  const commands = Object.values(manifest.commands)
    .filter((c) => !c.hidden)
    .sort((a, b) => compare(a.id, b.id))

  // Group by the first id segment: a topic page, or a page for a lone top-level command.
  const byName = new Map()
  for (const c of commands) {
    const name = c.id.split(':')[0]
    if (!byName.has(name)) byName.set(name, [])
    byName.get(name).push(c)
  }
  const groups = [...byName.entries()].sort(([a], [b]) => compare(a, b)).map(([name, list]) => ({name, commands: list}))

  const envs = new Map(ENVIRONMENT)
  const globalFlags = new Map()
  for (const c of commands) {
    for (const f of Object.values(c.flags ?? {})) {
      if (isGlobal(f) && !globalFlags.has(f.name)) globalFlags.set(f.name, f)
      if (f.env && !envs.has(f.env)) envs.set(f.env, `The default of --${f.name}${isGlobal(f) ? '' : ` (${displayId(c.id, separator)})`}.`)
    }
  }

  const pages = [bin, ...groups.map((g) => pageName(bin, g.name))]
  const ctx = {
    bin,
    separator,
    version: pkg.version,
    description: pkg.description ?? '',
    topics: oclif.topics ?? {},
    environment: [...envs.entries()],
    exitCodes,
    pages,
    globalFlags: [...globalFlags.values()],
    helpFlags: ['--help', ...(oclif.additionalHelpFlags ?? [])].sort(byShortFirst),
    versionFlags: ['--version', ...(oclif.additionalVersionFlags ?? [])].sort(byShortFirst),
    pluginCommands: pluginCommands.filter((c) => !commands.some((o) => o.id === c.id)).sort((a, b) => compare(a.id, b.id)),
  }

  const files = new Map()
  files.set(`${bin}.1`, mainPage(groups, ctx))
  for (const g of groups) {
    const lone = g.commands.length === 1 && g.commands[0].id === g.name
    files.set(`${pageName(bin, g.name)}.1`, lone ? commandPage(g.commands[0], ctx) : topicPage(g.name, g.commands, ctx))
  }
  return new Map([...files].map(([file, lines]) => [file, `${lines.join('\n')}\n`]))
}

/** Code-point order: the same on every machine, whatever its locale. */
function compare(a, b) {
  return a < b ? -1 : a > b ? 1 : 0
}

function byShortFirst(a, b) {
  return a.length - b.length || compare(a, b)
}

/** Writes the pages into outDir; for man/ itself also drops stale pages and updates package.json "man". */
export async function generate({root = ROOT, outDir, updatePackage = false} = {}) {
  const inputs = await loadInputs(root)
  const pages = renderPages(inputs)
  const dir = outDir ?? join(root, 'man')
  mkdirSync(dir, {recursive: true})
  for (const [file, text] of pages) writeFileSync(join(dir, file), text)
  if (updatePackage) {
    for (const file of readdirSync(dir)) if (/\.\d$/.test(file) && !pages.has(file)) rmSync(join(dir, file))
    writeManList(root, [...pages.keys()].map((f) => `./man/${f}`))
  }
  return pages
}

/** Rewrites only the "man" key of package.json, leaving every other byte alone. */
export function writeManList(root, list) {
  const path = join(root, 'package.json')
  const text = readFileSync(path, 'utf8')
  const current = JSON.parse(text).man
  if (Array.isArray(current) && current.length === list.length && current.every((v, i) => v === list[i])) return false
  const rendered = `"man": [\n${list.map((f) => `    ${JSON.stringify(f)}`).join(',\n')}\n  ]`
  let next
  if (/"man"\s*:\s*\[[^\]]*\]/.test(text)) next = text.replace(/"man"\s*:\s*\[[^\]]*\]/, rendered)
  else next = text.replace(/\n(\s*)"scripts"\s*:/, `\n$1${rendered},\n$1"scripts":`)
  JSON.parse(next) // never write a broken package.json
  writeFileSync(path, next)
  return true
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const at = args.indexOf('--out')
  const outDir = at === -1 ? undefined : resolve(args[at + 1] ?? '')
  const pages = await generate({outDir, updatePackage: outDir === undefined})
  process.stdout.write(`man pages: ${[...pages.keys()].join(', ')} -> ${outDir ?? join(ROOT, 'man')}\n`)
}
