import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import { errorMessage, feedback, fieldErrors } from '../lib/errors'
import { exportQuery, filterQuery, fromRoute, toApi, toRoute } from '../lib/customerQuery'

const t = (key: string) => ({ 'errors.network': 'NET', 'errors.codes.already_claimed': 'taken' } as Record<string, string>)[key] ?? key

describe('error mapping', () => {
  it('422 field errors land on their (dotted) fields', () => {
    const e = new ApiError(422, { code: 'validation_failed', errors: { primary_contact: { phone: ['bad phone'] }, name: ['a', 'b'] } })
    expect(fieldErrors(e)).toEqual({ 'primary_contact.phone': 'bad phone', name: 'a b' })
    expect(feedback(fieldErrors(e), 'name')).toEqual({ 'validation-status': 'error', feedback: 'a b' })
    expect(feedback({}, 'name')).toEqual({})
  })
  it('a sensitive_data 422 names its field', () => {
    expect(fieldErrors(new ApiError(422, { code: 'sensitive_data', detail: 'ID number', field: 'needs' }))).toEqual({ needs: 'ID number' })
  })
  it('other errors are not field errors', () => {
    expect(fieldErrors(new ApiError(409, { code: 'x' }))).toEqual({})
    expect(fieldErrors(new Error('x'))).toEqual({})
  })
  it('messages: known codes, then the API detail', () => {
    expect(errorMessage(new ApiError(0, {}), t)).toBe('NET')
    expect(errorMessage(new ApiError(409, { code: 'already_claimed', detail: 'd' }), t)).toBe('taken')
    expect(errorMessage(new ApiError(409, { code: 'other', detail: '已被修改 / changed' }), t)).toBe('已被修改 / changed')
  })
})

describe('customer list query', () => {
  it('round-trips through the route', () => {
    const f = fromRoute({ scope: 'pool', q: 'abc', page: '3', per_page: '50', status: 'deal', sort: '-name', junk: 'x' })
    expect(f).toMatchObject({ scope: 'pool', q: 'abc', page: 3, per_page: 50, status: 'deal', sort: '-name' })
    expect(toRoute(f)).toEqual({ scope: 'pool', q: 'abc', page: '3', per_page: '50', status: 'deal', sort: '-name' })
    expect(fromRoute({ scope: 'evil', per_page: '7' })).toMatchObject({ scope: 'mine', per_page: 20, page: 1 })
  })
  it('pool goes to /pool; others to /customers with scope', () => {
    expect(toApi(fromRoute({ scope: 'pool', claimed: 'false' })).path).toBe('/pool')
    const other = toApi(fromRoute({ scope: 'team', claimed: 'false' }))
    expect(other.path).toBe('/customers')
    expect(other.query).toMatchObject({ scope: 'team', page: 1, per_page: 20 })
    expect(other.query).not.toHaveProperty('claimed')
  })
  it('export and print keep the filters, not the paging', () => {
    const f = fromRoute({ scope: 'pool', level: 'A', page: '2', claimed: 'true' })
    expect(filterQuery(f)).toEqual({ scope: 'pool', level: 'A', claimed: 'true' })
    expect(exportQuery(f)).toEqual({ scope: 'all', level: 'A' })
  })
})
