// The customer list's filters <-> the route query <-> the API query (shared by the
// list, export and print).
export interface CustomerFilters {
  scope: 'mine' | 'shared' | 'team' | 'pool'
  q?: string
  status?: string
  level?: string
  industry?: string
  tag?: string
  source?: string
  owner_id?: string
  region?: string
  created_from?: string
  created_to?: string
  no_followup_since?: string
  claimed?: string
  sort?: string
  page: number
  per_page: number
}

const KEYS = ['q', 'status', 'level', 'industry', 'tag', 'source', 'owner_id', 'region', 'created_from', 'created_to', 'no_followup_since', 'claimed', 'sort'] as const

export function fromRoute(query: Record<string, unknown>): CustomerFilters {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined)
  const scope = str(query.scope)
  const out: CustomerFilters = {
    scope: scope === 'shared' || scope === 'team' || scope === 'pool' ? scope : 'mine',
    page: Math.max(1, Number(query.page) || 1),
    per_page: [10, 20, 50, 100].includes(Number(query.per_page)) ? Number(query.per_page) : 20,
  }
  for (const key of KEYS) {
    const v = str(query[key])
    if (v) (out as any)[key] = v
  }
  return out
}

export function toRoute(f: CustomerFilters): Record<string, string> {
  const out: Record<string, string> = { scope: f.scope }
  for (const key of KEYS) if ((f as any)[key]) out[key] = String((f as any)[key])
  if (f.page > 1) out.page = String(f.page)
  if (f.per_page !== 20) out.per_page = String(f.per_page)
  return out
}

/** The path and query of the API call for these filters. */
export function toApi(f: CustomerFilters): { path: string; query: Record<string, string | number> } {
  const query: Record<string, string | number> = { page: f.page, per_page: f.per_page }
  for (const key of KEYS) if ((f as any)[key]) query[key] = (f as any)[key]
  if (f.scope === 'pool') return { path: '/pool', query }
  delete query.claimed
  return { path: '/customers', query: { ...query, scope: f.scope } }
}

/** Filters only (for print): no paging; scope as in the list (pool included). */
export function filterQuery(f: CustomerFilters): Record<string, string> {
  const out: Record<string, string> = { scope: f.scope }
  for (const key of KEYS) if (key !== 'sort' && (f as any)[key]) out[key] = String((f as any)[key])
  return out
}

/** The export's query: visible customers with these filters (the pool tab exports all). */
export function exportQuery(f: CustomerFilters): Record<string, string> {
  const out = filterQuery(f)
  if (out.scope === 'pool') out.scope = 'all'
  delete out.claimed
  return out
}

/** The customer list's last filters, for the import/export screen. */
let last: CustomerFilters = { scope: 'mine', page: 1, per_page: 20 }
export function rememberFilters(f: CustomerFilters): void { last = { ...f } }
export function lastFilters(): CustomerFilters { return { ...last } }
