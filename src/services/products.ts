import {epochSeconds} from '../domain/clock.js'
import {ConflictError, NotFoundError} from '../domain/errors.js'
import {LIMITS} from '../domain/license.js'
import {parseText, parseUint} from '../domain/values.js'
import {appendAudit} from './audit.js'
import type {ServiceContext} from './context.js'

export interface Product {
  code: number
  name: string
  createdAt: number
  /** Licenses issued for this product, by status. */
  licenses: {available: number; assigned: number; revoked: number}
}

export class ProductService {
  constructor(private readonly ctx: ServiceContext) {}

  async create(input: {code: unknown; name: string}): Promise<Product> {
    const code = parseUint(input.code, '--code', LIMITS.code, {required: true})!
    const name = parseText(input.name, '--name', {required: true})!
    const now = epochSeconds(this.ctx.clock)
    await this.ctx.store.write(async (tx) => {
      const existing = await tx.selectFrom('products').select('name').where('code', '=', code).executeTakeFirst()
      if (existing) {
        throw new ConflictError('PRODUCT_EXISTS', `product ${code} exists already ("${existing.name}")`, {
          hint: 'Choose another product code.',
          details: {productCode: code},
        })
      }
      await tx.insertInto('products').values({code, name, created_at: now}).execute()
      await appendAudit(tx, this.ctx, {action: 'product.create', subject: `product:${code}`, after: {name}})
    })
    return {code, name, createdAt: now, licenses: {available: 0, assigned: 0, revoked: 0}}
  }

  async list(): Promise<Product[]> {
    const rows = await this.ctx.store.db.selectFrom('products').selectAll().orderBy('code').execute()
    const counts = await this.licenseCounts()
    return rows.map((r) => this.toProduct(r, counts))
  }

  async get(codeInput: unknown): Promise<Product> {
    const code = parseUint(codeInput, 'product code', LIMITS.code, {required: true})!
    const row = await this.ctx.store.db.selectFrom('products').selectAll().where('code', '=', code).executeTakeFirst()
    if (!row) throw new NotFoundError('product', code, {hint: 'Run "licadm product list" to see the products.'})
    return this.toProduct(row, await this.licenseCounts(code))
  }

  /** Deletes a product that no license references. */
  async delete(codeInput: unknown): Promise<Product> {
    const product = await this.get(codeInput)
    await this.ctx.store.write(async (tx) => {
      const used = await tx
        .selectFrom('licenses')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('product_code', '=', product.code)
        .executeTakeFirstOrThrow()
      if (Number(used.n) > 0) {
        throw new ConflictError('PRODUCT_IN_USE', `product ${product.code} is referenced by ${used.n} license(s) and cannot be deleted`, {
          hint: `Licenses are kept for the record, revoked ones too; list them with "licadm license list --product ${product.code}".`,
          details: {productCode: product.code, licenses: Number(used.n)},
        })
      }
      await tx.deleteFrom('products').where('code', '=', product.code).execute()
      await appendAudit(tx, this.ctx, {action: 'product.delete', subject: `product:${product.code}`, before: {name: product.name}})
    })
    return product
  }

  private async licenseCounts(code?: number): Promise<Map<number, Product['licenses']>> {
    let q = this.ctx.store.db
      .selectFrom('licenses')
      .select(['product_code', 'status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['product_code', 'status'])
    if (code !== undefined) q = q.where('product_code', '=', code)
    const counts = new Map<number, Product['licenses']>()
    for (const row of await q.execute()) {
      const key = Number(row.product_code)
      const entry = counts.get(key) ?? {available: 0, assigned: 0, revoked: 0}
      entry[row.status as keyof Product['licenses']] = Number(row.n)
      counts.set(key, entry)
    }
    return counts
  }

  private toProduct(row: {code: number; name: string; created_at: number}, counts: Map<number, Product['licenses']>): Product {
    const code = Number(row.code)
    return {code, name: row.name, createdAt: Number(row.created_at), licenses: counts.get(code) ?? {available: 0, assigned: 0, revoked: 0}}
  }
}
