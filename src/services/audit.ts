import {createHash} from 'node:crypto'

import {sql} from 'kysely'

import {epochSeconds} from '../domain/clock.js'
import {optionalText, parseDuration, parseInstant, parseUint} from '../domain/values.js'
import type {Tx} from '../store/store.js'
import {localActor, type ServiceContext} from './context.js'

/** One change, as the service that made it describes it. */
export interface AuditEntry {
  action: string
  /** What was changed: "license:lic_…", "container:P-…", "device:…". */
  subject: string
  before?: unknown
  after?: unknown
}

export interface AuditEvent extends AuditEntry {
  seq: number
  at: number
  actor: string
  hash: string
}

export interface AuditFilter {
  action?: string
  subject?: string
  actor?: string
  since?: string
  limit?: unknown
  after?: unknown
}

export interface AuditVerdict {
  ok: boolean
  events: number
  head: string | null
  problems: Array<{seq: number; problem: string}>
}

const GENESIS = '0'.repeat(64)

function eventHash(prev: string, e: {seq: number; at: number; actor: string; action: string; subject: string; before: string | null; after: string | null}): string {
  return createHash('sha256')
    .update(JSON.stringify([prev, e.seq, e.at, e.actor, e.action, e.subject, e.before, e.after]))
    .digest('hex')
}

/**
 * Appends events to the hash chain inside the caller's transaction, so an event exists exactly when
 * its change does. Each event's hash covers the previous hash: editing or deleting one breaks the
 * chain, and the head row catches the newest events being cut off.
 */
export async function appendAudit(tx: Tx, ctx: Pick<ServiceContext, 'clock' | 'actor'>, ...entries: AuditEntry[]): Promise<void> {
  if (entries.length === 0) return
  const at = epochSeconds(ctx.clock)
  const head = await tx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst()
  let seq = head?.seq ?? 0
  let prev = head?.hash ?? GENESIS
  const rows = entries.map((entry) => {
    seq += 1
    const row = {
      seq,
      at,
      actor: ctx.actor ?? localActor(),
      action: entry.action,
      subject: entry.subject,
      before: entry.before === undefined ? null : JSON.stringify(entry.before),
      after: entry.after === undefined ? null : JSON.stringify(entry.after),
    }
    const hash = eventHash(prev, row)
    const full = {...row, prev_hash: prev, hash}
    prev = hash
    return full
  })
  await tx.insertInto('audit_events').values(rows).execute()
  if (head) await tx.updateTable('audit_head').set({seq, hash: prev}).where('id', '=', 1).execute()
  else await tx.insertInto('audit_head').values({id: 1, seq, hash: prev}).execute()
}

export class AuditService {
  constructor(private readonly ctx: ServiceContext) {}

  async list(filter: AuditFilter = {}): Promise<{events: AuditEvent[]; nextAfter: number | null}> {
    const limit = parseUint(filter.limit ?? 100, '--limit', {min: 1, max: 10_000}, {required: true})!
    let q = this.ctx.store.db.selectFrom('audit_events').selectAll().orderBy('seq').limit(limit + 1)
    const [action, subject, actor, since] = (['action', 'subject', 'actor', 'since'] as const).map((f) => optionalText(filter[f], `--${f}`))
    if (action) q = q.where('action', 'like', action.includes('*') ? action.replaceAll('*', '%') : action)
    if (subject) {
      // A bare id also finds the batch events that name it (bulk issuance records one per chunk).
      q = subject.includes(':')
        ? q.where('subject', '=', subject)
        : q.where((eb) => eb.or([eb('subject', 'like', `%:${subject}`), sql<boolean>`${eb.ref('after')} like ${`%"${likeEscape(subject)}"%`} escape '\\'`]))
    }
    if (actor) q = q.where('actor', '=', actor)
    if (since) {
      // "7d" means the last seven days here: a duration counts back from now.
      const now = epochSeconds(this.ctx.clock)
      const back = parseDuration(since)
      q = q.where('at', '>=', back === null ? parseInstant(since, '--since', now) : now - back)
    }
    if (filter.after !== undefined) q = q.where('seq', '>', parseUint(filter.after, '--after', {min: 0, max: Number.MAX_SAFE_INTEGER}, {required: true})!)
    const rows = await q.execute()
    const events = rows.slice(0, limit).map((r) => ({
      seq: r.seq,
      at: Number(r.at),
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      before: r.before === null ? undefined : JSON.parse(r.before),
      after: r.after === null ? undefined : JSON.parse(r.after),
      hash: r.hash,
    }))
    return {events, nextAfter: rows.length > limit ? events.at(-1)!.seq : null}
  }

  /**
   * Recomputes the chain from the first event to the head, all in one read transaction: SQLite (WAL)
   * gives it one snapshot, so events that another process appends meanwhile are neither half-seen
   * nor taken for a broken chain (they are simply after this verification). Every row is read, also
   * those with a sequence number licadm never gives (0 or below), and the number of rows must be the
   * head's: a row slipped in anywhere is named.
   */
  async verify(): Promise<AuditVerdict> {
    return this.ctx.store.db.connection().execute(async (db) => {
      await sql`begin`.execute(db)
      try {
        return await verifyChain(db)
      } finally {
        await sql`commit`.execute(db)
      }
    })
  }
}

/** Events verify reads at a time (the rows of one chunk are held in memory). */
const VERIFY_CHUNK = 5000

/** The chain check of `verify`, over one connection that holds a read transaction. */
async function verifyChain(db: Tx): Promise<AuditVerdict> {
  const problems: AuditVerdict['problems'] = []
  // The head first: the first read fixes the snapshot that every later read of this transaction sees.
  const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst()
  let prev = GENESIS
  let expected = 1
  let count = 0
  let after: number | null = null
  for (;;) {
    let q = db.selectFrom('audit_events').selectAll().orderBy('seq').limit(VERIFY_CHUNK)
    // No lower bound on the first read: a row numbered 0 or below is read (and named) too.
    if (after !== null) q = q.where('seq', '>', after)
    const rows = await q.execute()
    if (rows.length === 0) break
    for (const r of rows) {
      count++
      after = r.seq
      if (!Number.isSafeInteger(r.seq) || r.seq < 1) {
        // Never made by licadm (its events are numbered from 1): a row inserted by hand.
        problems.push({seq: r.seq, problem: 'has a sequence number licadm never gives (events are numbered from 1): it was inserted by hand'})
        continue
      }
      if (r.seq !== expected) problems.push({seq: expected, problem: `events ${expected} to ${r.seq - 1} are missing (deleted)`})
      if (r.prev_hash !== prev) problems.push({seq: r.seq, problem: 'does not follow the previous event (an event before it was deleted or changed)'})
      if (eventHash(r.prev_hash, {...r, at: Number(r.at)}) !== r.hash) problems.push({seq: r.seq, problem: 'was edited: its content does not match its hash'})
      prev = r.hash
      expected = r.seq + 1
    }
  }
  if (head && (head.seq !== expected - 1 || head.hash !== prev)) {
    problems.push({seq: head.seq, problem: `the newest events up to ${head.seq} are missing or changed (the chain ends at ${expected - 1})`})
  }
  // Numbered 1 to the head's seq without a gap, the table holds exactly head.seq rows: a last guard.
  if (head && problems.length === 0 && count !== head.seq) {
    problems.push({seq: head.seq, problem: `the table holds ${count} event(s), but the head counts ${head.seq}`})
  }
  if (!head && count > 0) problems.push({seq: 0, problem: 'the chain head record is missing'})
  return {ok: problems.length === 0, events: count, head: head?.hash ?? null, problems}
}

/** A literal for LIKE ... ESCAPE '\\': ids have underscores, which LIKE would read as wildcards. */
function likeEscape(text: string): string {
  return text.replaceAll(/[\\%_"]/g, (c) => (c === '"' ? '' : `\\${c}`))
}
