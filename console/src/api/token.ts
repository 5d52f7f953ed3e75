// The bearer token lives in memory; sessionStorage (this tab only) keeps it across a
// reload. Never localStorage, never a URL.
const KEY = 'crm.session'
let token: string | null = null

function storage(): Storage | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage
  } catch {
    return null
  }
}

export function getToken(): string | null {
  if (token === null) token = storage()?.getItem(KEY) ?? null
  return token
}

export function setToken(value: string | null): void {
  token = value
  const s = storage()
  if (!s) return
  if (value) s.setItem(KEY, value)
  else s.removeItem(KEY)
}
