import type {BlockList} from 'node:net'

import {subjectMatches, type RuleSubject} from './seat-subjects.js'

/** A lease as counted and matched against reservations. */
export interface HolderRow {
  user: string
  host: string
  address: string | null
  kind: string
  mode: string
  seats: number
}

/** A reservation as matched against holders: its address pattern compiled to a block. */
export interface CountedReservation {
  subject: RuleSubject
  pattern: string
  seats: number
  block: BlockList | undefined
}

/** Seats used by these (active) leases: the leases of one station count once. */
export function seatsUsed(rows: ReadonlyArray<{user: string; host: string; kind: string; mode: string; seats: number}>): number {
  let used = 0
  const stations = new Set<string>()
  for (const r of rows) {
    if (r.kind === 'lease' && r.mode === 'station') stations.add(`${r.user}\u0000${r.host}`)
    else used += r.seats
  }
  return used + stations.size
}

/**
 * The seats of each reservation its own holders use: every holder (a station once) fills the first
 * reservations it matches that have room, oldest first; what a holder needs beyond them comes from
 * the free seats.
 */
export function reservedInUse(reservations: readonly CountedReservation[], holders: readonly HolderRow[]): number[] {
  const room = reservations.map((r) => r.seats)
  const stations = new Set<string>()
  for (const h of holders) {
    let seats = h.seats
    if (h.kind === 'lease' && h.mode === 'station') {
      const station = `${h.user}\u0000${h.host}`
      if (stations.has(station)) continue
      stations.add(station)
      seats = 1
    }
    const holder = {user: h.user, host: h.host, address: h.address ?? undefined}
    for (let i = 0; i < reservations.length && seats > 0; i++) {
      if (room[i] === 0 || !subjectMatches(reservations[i], reservations[i].block, holder)) continue
      const taken = Math.min(room[i], seats)
      room[i] -= taken
      seats -= taken
    }
  }
  return reservations.map((r, i) => r.seats - room[i])
}
