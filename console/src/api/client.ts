import { getToken, setToken } from './token'

export type FieldErrors = Record<string, string[]>

/** A problem+json answer (or a network failure, status 0) as one typed error. */
export class ApiError extends Error {
  status: number
  code: string
  title: string
  detail: string
  errors: FieldErrors
  body: Record<string, unknown>

  constructor(status: number, body: Record<string, unknown> = {}) {
    const title = String(body.title ?? (status ? `HTTP ${status}` : 'Network error'))
    const detail = String(body.detail ?? body.title ?? '')
    super(detail || title)
    this.name = 'ApiError'
    this.status = status
    this.code = String(body.code ?? (status ? `http_${status}` : 'network_error'))
    this.title = title
    this.detail = detail
    this.errors = normaliseErrors(body.errors)
    this.body = body
  }
}

export function normaliseErrors(raw: unknown): FieldErrors {
  const out: FieldErrors = {}
  if (!raw || typeof raw !== 'object') return out
  const walk = (value: unknown, prefix: string) => {
    if (Array.isArray(value)) {
      const texts = value.filter((v) => typeof v === 'string') as string[]
      if (texts.length) out[prefix] = [...(out[prefix] ?? []), ...texts]
      value.forEach((v, i) => {
        if (v && typeof v === 'object') walk(v, prefix ? `${prefix}.${i}` : String(i))
      })
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, prefix ? `${prefix}.${k}` : k)
    } else if (typeof value === 'string') {
      out[prefix] = [...(out[prefix] ?? []), value]
    }
  }
  walk(raw, '')
  return out
}

export type Query = Record<string, string | number | boolean | null | undefined | (string | number)[]>

export function buildQuery(query?: Query): string {
  if (!query) return ''
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue
    if (Array.isArray(value)) value.forEach((v) => params.append(key, String(v)))
    else params.append(key, String(value))
  }
  const text = params.toString()
  return text ? `?${text}` : ''
}

export interface RequestOptions {
  query?: Query
  body?: unknown
  version?: number | null // sent as If-Match
  idempotencyKey?: string
  raw?: boolean // return the Response (downloads)
  form?: FormData
}

type UnauthorizedHandler = () => void
let onUnauthorized: UnauthorizedHandler = () => {}
export function setUnauthorizedHandler(handler: UnauthorizedHandler): void {
  onUnauthorized = handler
}

let fetcher: typeof fetch = (...args) => fetch(...args)
export function setFetch(f: typeof fetch): void {
  fetcher = f
}

export const API = '/api/v1'

export async function request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const token = getToken()
  if (token) headers.Authorization = `Bearer ${token}`
  let body: BodyInit | undefined
  if (options.form) body = options.form
  else if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(options.body)
  }
  if (options.version !== undefined && options.version !== null) headers['If-Match'] = String(options.version)
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey
  let response: Response
  try {
    response = await fetcher(`${API}${path}${buildQuery(options.query)}`, { method, headers, body })
  } catch {
    throw new ApiError(0, { title: 'Network error', detail: 'The server did not answer.' })
  }
  if (response.status === 401 && path !== '/auth/login') {
    setToken(null)
    onUnauthorized()
    throw new ApiError(401, await readJson(response))
  }
  if (!response.ok) throw new ApiError(response.status, await readJson(response))
  if (options.raw) return response as unknown as T
  if (response.status === 204) return undefined as T
  return (await readJson(response)) as T
}

async function readJson(response: Response): Promise<Record<string, any>> {
  const text = await response.text()
  if (!text) return {}
  try {
    const value = JSON.parse(text)
    return value && typeof value === 'object' ? value : { value }
  } catch {
    return { detail: text.slice(0, 200) }
  }
}

export const api = {
  get: <T = any>(path: string, query?: Query) => request<T>('GET', path, { query }),
  post: <T = any>(path: string, body?: unknown, extra: RequestOptions = {}) => request<T>('POST', path, { ...extra, body }),
  put: <T = any>(path: string, body?: unknown) => request<T>('PUT', path, { body }),
  patch: <T = any>(path: string, body: unknown, version?: number | null) => request<T>('PATCH', path, { body, version }),
  del: <T = any>(path: string) => request<T>('DELETE', path),
}

export interface Page<T> {
  items: T[]
  total: number
  page: number
  per_page: number
}

/** Download a file answer (export, report) without ever putting the token in a URL. */
export async function download(path: string, query: Query, fallbackName: string): Promise<void> {
  const response = await request<Response>('GET', path, { query, raw: true })
  const blob = await response.blob()
  const disposition = response.headers.get('Content-Disposition') ?? ''
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition)
  const name = match ? decodeURIComponent(match[1]) : fallbackName
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

export function newIdempotencyKey(): string {
  const c = globalThis.crypto as Crypto | undefined
  if (c?.randomUUID) return c.randomUUID()
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`
}

/** Multipart upload with progress (XMLHttpRequest: fetch has no upload progress). */
export function upload<T = any>(path: string, form: FormData, onProgress: (fraction: number) => void, idempotencyKey?: string, headers: Record<string, string> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', `${API}${path}`)
    const token = getToken()
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`)
    if (idempotencyKey) xhr.setRequestHeader('Idempotency-Key', idempotencyKey)
    xhr.setRequestHeader('Accept', 'application/json')
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value)
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total) }
    xhr.onerror = () => reject(new ApiError(0, { title: 'Network error' }))
    xhr.onload = () => {
      let body: any = {}
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : {} } catch { body = { detail: xhr.responseText.slice(0, 200) } }
      if (xhr.status === 401) { setToken(null); onUnauthorized() }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as T)
      else reject(new ApiError(xhr.status, body))
    }
    xhr.send(form)
  })
}
