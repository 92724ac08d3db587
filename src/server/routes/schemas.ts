/** JSON schemas of the request bodies: Fastify refuses anything else with a 400 naming the field. */

import {SEAT_RANGES} from '../../domain/seat-policy.js'
import {RULE_SUBJECTS} from '../../domain/seat-subjects.js'

const range = ({min, max}: {min: number; max: number}) => ({minimum: min, maximum: max})

const text = {type: 'string', minLength: 1, maxLength: 200} as const
const uint32 = {type: 'integer', minimum: 0, maximum: 0xffff_ffff} as const
/** Whom an access rule or a reservation names. */
const subject = {type: 'string', enum: RULE_SUBJECTS} as const

export const idParams = {
  type: 'object',
  properties: {id: text},
  required: ['id'],
} as const

const seatTarget = {
  license: text,
  product: {...uint32, minimum: 1},
  features: uint32,
  user: text,
  host: text,
  process: text,
} as const

export const checkoutBody = {
  type: 'object',
  additionalProperties: false,
  properties: {...seatTarget, seats: {type: 'integer', ...range(SEAT_RANGES.checkoutSeats)}, wait: {type: 'integer', ...range(SEAT_RANGES.waitSeconds)}, place: {type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER}},
  required: ['user', 'host'],
} as const

export const borrowBody = {
  type: 'object',
  additionalProperties: false,
  properties: {...seatTarget, duration: {type: 'integer', ...range(SEAT_RANGES.borrowSeconds)}, idempotencyKey: text},
  required: ['user', 'host', 'duration'],
} as const

export const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {license: text, product: {type: 'string', pattern: '^[0-9]{1,10}$'}, user: text, host: text},
} as const

export const ruleBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    product: {...uint32, minimum: 1},
    action: {type: 'string', enum: ['allow', 'deny']},
    subject,
    pattern: text,
  },
  required: ['product', 'action', 'subject', 'pattern'],
} as const

export const reservationBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    license: text,
    subject,
    pattern: text,
    seats: {type: 'integer', ...range(SEAT_RANGES.reservedSeats)},
  },
  required: ['license', 'subject', 'pattern', 'seats'],
} as const

export const reservationsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {license: text},
} as const

const day = {type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'} as const

export const usageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {license: text, since: day, until: day, days: {type: 'string', pattern: '^[0-9]{1,4}$'}},
} as const

export const defaultBody = {
  type: 'object',
  additionalProperties: false,
  properties: {action: {type: 'string', enum: ['allow', 'deny']}},
  required: ['action'],
} as const

export const productParams = {
  type: 'object',
  properties: {product: {type: 'string', pattern: '^[0-9]{1,10}$'}},
  required: ['product'],
} as const

export const rulesQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {product: {type: 'string', pattern: '^[0-9]{1,10}$'}},
} as const

export const policyBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mode: {type: 'string', enum: ['checkout', 'station', 'exclusive']},
    leaseTtl: {type: ['integer', 'null'], ...range(SEAT_RANGES.leaseTtl)},
    borrowMaxSeconds: {type: ['integer', 'null'], ...range(SEAT_RANGES.borrowSeconds)},
    borrowMaxSeats: {type: ['integer', 'null'], ...range(SEAT_RANGES.borrowSeats)},
    maxPerUser: {type: ['integer', 'null'], ...range(SEAT_RANGES.maxPerUser)},
    linger: {type: ['integer', 'null'], ...range(SEAT_RANGES.linger)},
  },
} as const

export const advanceBody = {
  type: 'object',
  additionalProperties: false,
  properties: {seconds: {type: 'integer', minimum: 0, maximum: 100 * 366 * 86_400}},
  required: ['seconds'],
} as const
