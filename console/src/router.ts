import { createRouter, createWebHistory } from 'vue-router'
import type { RouteRecordRaw } from 'vue-router'
import { setUnauthorizedHandler } from './api/client'
import { useSession } from './stores/session'
import { atLeast } from './lib/permissions'
import type { Role } from './lib/permissions'
import LoginView from './views/LoginView.vue'

const shell = () => import('./layouts/AppShell.vue')

const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: LoginView, meta: { public: true } },
  { path: '/password', name: 'password', component: () => import('./views/ChangePassword.vue'), meta: { passwordChange: true } },
  { path: '/print/customers', name: 'customers-print', component: () => import('./views/CustomerPrint.vue') },
  { path: '/print/customers/:id', name: 'customer-print', component: () => import('./views/CustomerPrintOne.vue'), props: true },
  {
    path: '/', component: shell, children: [
      { path: '', name: 'workbench', component: () => import('./views/WorkbenchView.vue') },
      { path: 'customers', name: 'customers', component: () => import('./views/CustomerList.vue') },
      { path: 'customers/new', name: 'customer-new', component: () => import('./views/CustomerForm.vue') },
      { path: 'customers/:id', name: 'customer', component: () => import('./views/CustomerDetail.vue'), props: true },
      { path: 'customers/:id/edit', name: 'customer-edit', component: () => import('./views/CustomerForm.vue'), props: true },
      { path: 'opportunities', name: 'opportunities', component: () => import('./views/OpportunityList.vue') },
      { path: 'opportunities/:id', name: 'opportunity', component: () => import('./views/OpportunityDetail.vue'), props: true },
      { path: 'quotes', name: 'quotes', component: () => import('./views/contracts/QuoteList.vue') },
      { path: 'contracts', name: 'contracts', component: () => import('./views/contracts/ContractList.vue') },
      { path: 'contracts/:id', name: 'contract', component: () => import('./views/contracts/ContractDetail.vue'), props: true },
      { path: 'receivables', name: 'receivables', component: () => import('./views/contracts/ReceivablesView.vue') },
      { path: 'tasks', name: 'tasks', component: () => import('./views/TaskList.vue') },
      { path: 'calendar', name: 'calendar', component: () => import('./views/CalendarView.vue') },
      { path: 'reports', name: 'reports', component: () => import('./views/ReportsView.vue') },
      { path: 'transfer', name: 'transfer', component: () => import('./views/TransferView.vue') },
      { path: 'admin/users', name: 'admin-users', component: () => import('./views/admin/UsersAdmin.vue'), meta: { minRole: 'admin' } },
      { path: 'admin/pool-rules', name: 'admin-pool-rules', component: () => import('./views/admin/PoolRulesAdmin.vue'), meta: { minRole: 'admin' } },
      { path: 'admin/pipeline', name: 'admin-pipeline', component: () => import('./views/admin/PipelineAdmin.vue'), meta: { minRole: 'admin' } },
      { path: 'admin/settings', name: 'admin-settings', component: () => import('./views/admin/SettingsAdmin.vue'), meta: { minRole: 'admin' } },
      { path: 'admin/dead-letters', name: 'admin-dead-letters', component: () => import('./views/admin/DeadLettersAdmin.vue'), meta: { minRole: 'admin' } },
      { path: ':rest(.*)*', name: 'not-found', component: () => import('./views/NotFound.vue') },
    ],
  },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  const session = useSession()
  if (!session.signedIn) return { name: 'login', query: { redirect: to.fullPath } }
  try {
    await session.ensureMe()
  } catch {
    if (!session.signedIn) return { name: 'login', query: { redirect: to.fullPath, expired: '1' } }
  }
  if (session.mustChange && !to.meta.passwordChange) return { name: 'password', query: { redirect: to.fullPath } }
  const min = to.meta.minRole as Role | undefined
  if (min && !atLeast(session.role, min)) return { name: 'workbench' }
  return true
})

setUnauthorizedHandler(() => {
  const session = useSession()
  session.clear()
  const current = router.currentRoute.value
  if (current.name === 'login') return
  // The first navigation is still resolving: its guard sends the user to sign-in with
  // the right way back (pushing here would race it with the wrong one).
  if (!current.matched.length) return
  router.push({ name: 'login', query: { redirect: current.fullPath, expired: '1' } })
})
