// Dates in the user's own time zone, money as CONTRACT strings with a currency.
export type Locale = 'zh-CN' | 'en'

export function formatDateTime(iso: string | null | undefined, timeZone: string, locale: Locale): string {
  if (!iso) return '—'
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return '—'
  return new Intl.DateTimeFormat(locale === 'zh-CN' ? 'zh-CN' : 'en-GB', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(date)
}

export function formatDate(value: string | null | undefined, timeZone: string, locale: Locale): string {
  if (!value) return '—'
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return value // a plain date has no zone
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) return '—'
  return localDay(date, timeZone)
}

/** YYYY-MM-DD of an instant in a time zone. */
export function localDay(date: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(date)
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? ''
  return `${get('year')}-${get('month')}-${get('day')}`
}

/** Hour:minute of an instant in a time zone. */
export function localTime(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hour12: false }).format(new Date(iso))
}

/** An instant from a local date and time in a time zone (for due dates the user types). */
export function zonedToIso(day: string, time: string, timeZone: string): string {
  const [y, m, d] = day.split('-').map(Number)
  const [hh, mm] = time.split(':').map(Number)
  const guess = Date.UTC(y, m - 1, d, hh, mm)
  const offset = zoneOffsetMinutes(new Date(guess), timeZone)
  let result = guess - offset * 60000
  const offset2 = zoneOffsetMinutes(new Date(result), timeZone)
  if (offset2 !== offset) result = guess - offset2 * 60000
  return new Date(result).toISOString()
}

export function zoneOffsetMinutes(date: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(date)
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value)
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'))
  return Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000)
}

/** "12000.50" + CNY → "¥12,000.50" (zh) / "CN¥12,000.50" (en). Exact: no float maths on the digits. */
export function formatMoney(amount: string | number | null | undefined, currency = 'CNY', locale: Locale = 'zh-CN'): string {
  if (amount === null || amount === undefined || amount === '') return '—'
  const text = typeof amount === 'number' ? amount.toFixed(2) : String(amount).trim()
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text)
  if (!match) return text
  const [, sign, whole, frac = ''] = match
  const grouped = whole.replace(/^0+(?=\d)/, '').replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  const cents = (frac + '00').slice(0, 2)
  const symbol = currencySymbol(currency, locale)
  return `${sign}${symbol}${grouped}.${cents}`
}

export function currencySymbol(currency: string, locale: Locale): string {
  try {
    const parts = new Intl.NumberFormat(locale === 'zh-CN' ? 'zh-CN' : 'en-US', { style: 'currency', currency }).formatToParts(0)
    return parts.find((p) => p.type === 'currency')?.value ?? `${currency} `
  } catch {
    return `${currency} `
  }
}

/** A money string in compact form for charts and cards: 1234567.00 → 123.5万 / 1.2M */
export function compactMoney(amount: string | number | null | undefined, locale: Locale): string {
  const n = Number(amount ?? 0)
  if (!Number.isFinite(n)) return '—'
  return new Intl.NumberFormat(locale === 'zh-CN' ? 'zh-CN' : 'en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(n)
}

export function formatPercent(fraction: number | null | undefined, locale: Locale): string {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return '—'
  return new Intl.NumberFormat(locale === 'zh-CN' ? 'zh-CN' : 'en-US', { style: 'percent', maximumFractionDigits: 1 }).format(fraction)
}

/** Money the user typed ("12,000.5") → a CONTRACT money string ("12000.50"), or null. */
export function parseMoney(input: string | number | null | undefined): string | null {
  if (input === null || input === undefined) return null
  const text = String(input).replace(/[,\s¥￥]/g, '')
  if (!/^\d+(\.\d{0,2})?$/.test(text)) return null
  const [whole, frac = ''] = text.split('.')
  return `${whole.replace(/^0+(?=\d)/, '')}.${(frac + '00').slice(0, 2)}`
}
