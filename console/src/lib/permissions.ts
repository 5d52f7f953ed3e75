// Role → visible menus and actions, in one place. The API stays the authority: this only
// hides what a role could not do anyway.
export type Role = 'rep' | 'supervisor' | 'manager' | 'admin'
export const ROLES: Role[] = ['rep', 'supervisor', 'manager', 'admin']
const RANK: Record<Role, number> = { rep: 0, supervisor: 1, manager: 2, admin: 3 }

export function atLeast(role: Role | undefined | null, minimum: Role): boolean {
  if (!role || !(role in RANK)) return false
  return RANK[role] >= RANK[minimum]
}

export type MenuKey = 'workbench' | 'customers' | 'opportunities' | 'contracts' | 'tasks' | 'calendar' | 'reports' | 'transfer' | 'admin'
export const MENUS: { key: MenuKey; min: Role }[] = [
  { key: 'workbench', min: 'rep' },
  { key: 'customers', min: 'rep' },
  { key: 'opportunities', min: 'rep' },
  { key: 'contracts', min: 'rep' },
  { key: 'tasks', min: 'rep' },
  { key: 'calendar', min: 'rep' },
  { key: 'reports', min: 'rep' },
  { key: 'transfer', min: 'rep' },
  { key: 'admin', min: 'admin' },
]

export function visibleMenus(role: Role | undefined | null): MenuKey[] {
  return MENUS.filter((m) => atLeast(role, m.min)).map((m) => m.key)
}

export type Action =
  | 'customer.claim' | 'customer.return' | 'customer.recover' | 'customer.assign' | 'customer.share'
  | 'customer.delete' | 'customer.bulk_assign' | 'customer.create_for_others'
  | 'task.assign_others' | 'task.pool' | 'task.bulk_assign' | 'task.team'
  | 'target.edit' | 'user.pick' | 'admin.users' | 'admin.pool_rules' | 'admin.pipeline' | 'admin.dead_letters' | 'admin.settings'
  | 'customer.scope_team' | 'report.group_team'

const ACTION_MIN: Record<Action, Role> = {
  'customer.claim': 'rep',
  'customer.return': 'rep',
  'customer.share': 'rep',
  'customer.assign': 'rep', // an owner may transfer; the API decides per record
  'customer.recover': 'supervisor',
  'customer.delete': 'supervisor',
  'customer.bulk_assign': 'supervisor',
  'customer.create_for_others': 'supervisor',
  'customer.scope_team': 'supervisor',
  'task.assign_others': 'supervisor',
  'task.pool': 'rep',
  'task.bulk_assign': 'supervisor',
  'task.team': 'supervisor',
  'target.edit': 'manager',
  'report.group_team': 'supervisor',
  'user.pick': 'supervisor',
  'admin.users': 'admin',
  'admin.pool_rules': 'admin',
  'admin.pipeline': 'admin',
  'admin.dead_letters': 'admin',
  'admin.settings': 'admin',
}

export function can(role: Role | undefined | null, action: Action): boolean {
  return atLeast(role, ACTION_MIN[action])
}

/** Pool actions on one customer as the caller sees it (the API re-checks each). */
export function customerActions(role: Role | null | undefined, userId: string, customer: { owner_id: string | null; view?: string }): Action[] {
  const out: Action[] = []
  if (!customer.owner_id) {
    out.push('customer.claim')
    if (can(role, 'customer.bulk_assign')) out.push('customer.assign')
    if (can(role, 'customer.delete')) out.push('customer.delete')
    return out
  }
  if (customer.view === 'public') return out
  const owns = customer.owner_id === userId
  if (owns || can(role, 'customer.recover')) out.push('customer.return', 'customer.share', 'customer.assign')
  if (!owns && can(role, 'customer.recover')) out.push('customer.recover')
  return out
}
