import { beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError, api, buildQuery, normaliseErrors, request, setFetch, setUnauthorizedHandler } from '../api/client'
import { getToken, setToken } from '../api/token'

function reply(status: number, body?: unknown, headers: Record<string, string> = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers } })
}

describe('api client', () => {
  let calls: { url: string; init: RequestInit }[]
  beforeEach(() => {
    calls = []
    setToken(null)
  })
  const respond = (r: Response) => setFetch((async (url: string, init: RequestInit) => { calls.push({ url, init }); return r }) as any)

  it('adds the bearer token and JSON body', async () => {
    setToken('tok-1')
    respond(reply(200, { ok: true }))
    expect(await api.post('/customers', { name: 'x' })).toEqual({ ok: true })
    const headers = calls[0].init.headers as Record<string, string>
    expect(calls[0].url).toBe('/api/v1/customers')
    expect(headers.Authorization).toBe('Bearer tok-1')
    expect(headers['Content-Type']).toBe('application/json')
    expect(calls[0].init.body).toBe('{"name":"x"}')
  })

  it('never puts the token in the URL', async () => {
    setToken('secret-token')
    respond(reply(200, {}))
    await api.get('/customers', { q: 'a' })
    expect(calls[0].url).not.toContain('secret-token')
  })

  it('sends If-Match with the version on PATCH', async () => {
    respond(reply(200, {}))
    await api.patch('/customers/1', { name: 'n' }, 7)
    expect((calls[0].init.headers as any)['If-Match']).toBe('7')
    expect(calls[0].init.method).toBe('PATCH')
  })

  it('maps problem+json to a typed error with dotted field errors', async () => {
    respond(reply(422, { status: 422, title: 'Validation failed', detail: 'bad', code: 'validation_failed', errors: { name: ['required'], primary_contact: { phone: ['digits only'] } } }))
    const error = await api.post('/customers', {}).catch((e) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error.status).toBe(422)
    expect(error.code).toBe('validation_failed')
    expect(error.errors).toEqual({ name: ['required'], 'primary_contact.phone': ['digits only'] })
  })

  it('keeps already dotted names', () => {
    expect(normaliseErrors({ 'primary_contact.phone': ['x'] })).toEqual({ 'primary_contact.phone': ['x'] })
    expect(normaliseErrors(null)).toEqual({})
  })

  it('on 401 clears the session and calls the handler', async () => {
    setToken('old')
    const handler = vi.fn()
    setUnauthorizedHandler(handler)
    respond(reply(401, { status: 401, code: 'invalid_token', title: 'Unauthorized' }))
    await expect(api.get('/me')).rejects.toMatchObject({ status: 401 })
    expect(handler).toHaveBeenCalledOnce()
    expect(getToken()).toBeNull()
  })

  it('a failed login is not a session expiry', async () => {
    const handler = vi.fn()
    setUnauthorizedHandler(handler)
    respond(reply(401, { status: 401, code: 'invalid_credentials' }))
    await expect(api.post('/auth/login', { username: 'a', password: 'b' })).rejects.toMatchObject({ code: 'invalid_credentials' })
    expect(handler).not.toHaveBeenCalled()
  })

  it('a network failure is status 0', async () => {
    setFetch((async () => { throw new TypeError('failed') }) as any)
    await expect(request('GET', '/me')).rejects.toMatchObject({ status: 0, code: 'network_error' })
  })

  it('204 gives undefined; query strings skip empty values and repeat lists', async () => {
    respond(reply(204))
    expect(await api.post('/auth/password', {})).toBeUndefined()
    expect(buildQuery({ a: 1, b: '', c: null, d: undefined, s: ['x', 'y'] })).toBe('?a=1&s=x&s=y')
    expect(buildQuery({})).toBe('')
  })
})
