import { ApiError } from '../api/client'

/** Field errors of a 422 for a form: dotted names as the API gives them (primary_contact.phone). */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError) || error.status !== 422) return {}
  const out: Record<string, string> = {}
  for (const [field, messages] of Object.entries(error.errors)) out[field] = messages.join(' ')
  const named = (error.body as any)?.field
  if (typeof named === 'string' && !out[named]) out[named] = error.detail
  return out
}

/** A line to show the user: the API's own detail (it is bilingual) or a known code. */
export function errorMessage(error: unknown, t: (key: string) => string): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return t('errors.network')
    const key = `errors.codes.${error.code}`
    const known = t(key)
    if (known && known !== key) return known
    if (error.detail) return error.detail
    return error.title
  }
  return error instanceof Error ? error.message : String(error)
}

/** The validation status and message of one field for NFormItem. */
export function feedback(errors: Record<string, string>, field: string): { 'validation-status'?: 'error'; feedback?: string } {
  return errors[field] ? { 'validation-status': 'error', feedback: errors[field] } : {}
}
