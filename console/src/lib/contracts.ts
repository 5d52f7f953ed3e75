// Status vocabularies and next steps of quotes and contracts (CONTRACT §9). The API
// decides; these only offer the sensible next steps.
export const QUOTE_STATUSES = ['draft', 'sent', 'accepted', 'rejected'] as const
export const CONTRACT_STATUSES = ['draft', 'active', 'completed', 'terminated'] as const
export const QUOTE_NEXT: Record<string, string[]> = { draft: ['sent'], sent: ['accepted', 'rejected', 'draft'], accepted: [], rejected: ['draft'] }
export const CONTRACT_NEXT: Record<string, string[]> = { draft: ['active', 'terminated'], active: ['completed', 'terminated'], completed: [], terminated: [] }
export const QUOTE_TAG: Record<string, 'default' | 'info' | 'success' | 'error' | 'warning'> = { draft: 'default', sent: 'info', accepted: 'success', rejected: 'error' }
export const CONTRACT_TAG: Record<string, 'default' | 'info' | 'success' | 'error' | 'warning'> = { draft: 'default', active: 'info', completed: 'success', terminated: 'error' }
export const AGEING_BUCKETS = ['0-30', '31-60', '61-90', '90+'] as const
export const PAYMENT_METHODS = ['bank_transfer', 'cash', 'check', 'acceptance_bill', 'other'] as const
export const COST_CATEGORIES = ['travel', 'entertainment', 'commission', 'implementation', 'procurement', 'other'] as const

/** A list answer as items (a bare array or a page). */
export function itemsOf(x: any): any[] {
  return Array.isArray(x) ? x : x?.items ?? []
}
