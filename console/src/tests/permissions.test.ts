import { describe, expect, it } from 'vitest'
import { atLeast, can, customerActions, visibleMenus } from '../lib/permissions'

describe('role to menus', () => {
  it('only admins see administration', () => {
    expect(visibleMenus('rep')).not.toContain('admin')
    expect(visibleMenus('manager')).not.toContain('admin')
    expect(visibleMenus('admin')).toContain('admin')
    expect(visibleMenus('rep')).toEqual(['workbench', 'customers', 'opportunities', 'contracts', 'tasks', 'calendar', 'reports', 'transfer'])
    expect(visibleMenus(null)).toEqual([])
  })
  it('ranks', () => {
    expect(atLeast('supervisor', 'rep')).toBe(true)
    expect(atLeast('rep', 'supervisor')).toBe(false)
    expect(atLeast(undefined, 'rep')).toBe(false)
  })
  it('actions by role', () => {
    expect(can('rep', 'customer.bulk_assign')).toBe(false)
    expect(can('supervisor', 'customer.bulk_assign')).toBe(true)
    expect(can('supervisor', 'target.edit')).toBe(false)
    expect(can('manager', 'target.edit')).toBe(true)
    expect(can('manager', 'admin.users')).toBe(false)
    expect(can('admin', 'admin.dead_letters')).toBe(true)
  })
})

describe('actions on one customer', () => {
  it('pool customer: claim; supervisors also assign and delete', () => {
    expect(customerActions('rep', 'u1', { owner_id: null })).toEqual(['customer.claim'])
    expect(customerActions('supervisor', 'u1', { owner_id: null })).toEqual(['customer.claim', 'customer.assign', 'customer.delete'])
  })
  it('owner may return, share, transfer; not recover own', () => {
    expect(customerActions('rep', 'u1', { owner_id: 'u1', view: 'full' })).toEqual(['customer.return', 'customer.share', 'customer.assign'])
  })
  it('a sharee rep gets nothing; a superior may recover', () => {
    expect(customerActions('rep', 'u2', { owner_id: 'u1', view: 'full' })).toEqual([])
    expect(customerActions('supervisor', 'boss', { owner_id: 'u1', view: 'full' })).toContain('customer.recover')
    expect(customerActions('supervisor', 'boss', { owner_id: 'u1', view: 'public' })).toEqual([])
  })
})
