import { describe, expect, it } from 'vitest'
import { formatDate, formatDateTime, formatMoney, formatPercent, localDay, parseMoney, zonedToIso } from '../lib/format'

describe('money', () => {
  it('formats CONTRACT strings exactly, per locale', () => {
    expect(formatMoney('12000.50', 'CNY', 'zh-CN')).toBe('¥12,000.50')
    expect(formatMoney('12000.50', 'CNY', 'en')).toBe('CN¥12,000.50')
    expect(formatMoney('1234567890123.99', 'CNY', 'zh-CN')).toBe('¥1,234,567,890,123.99')
    expect(formatMoney('0.5', 'USD', 'en')).toBe('$0.50')
    expect(formatMoney('-35.00', 'CNY', 'zh-CN')).toBe('-¥35.00')
    expect(formatMoney(null)).toBe('—')
  })
  it('parses what users type', () => {
    expect(parseMoney('12,000.5')).toBe('12000.50')
    expect(parseMoney('¥300')).toBe('300.00')
    expect(parseMoney('1.234')).toBeNull()
    expect(parseMoney('abc')).toBeNull()
  })
  it('percent', () => {
    expect(formatPercent(0.5, 'en')).toBe('50%')
    expect(formatPercent(0.8571, 'zh-CN')).toBe('85.7%')
    expect(formatPercent(null, 'en')).toBe('—')
  })
})

describe('dates in the user time zone', () => {
  const iso = '2026-12-01T17:30:00+00:00'
  it('same instant, different local days', () => {
    expect(formatDateTime(iso, 'Asia/Shanghai', 'zh-CN')).toBe('2026/12/02 01:30')
    expect(formatDateTime(iso, 'Europe/Berlin', 'en')).toBe('01/12/2026, 18:30')
    expect(localDay(new Date(iso), 'Asia/Shanghai')).toBe('2026-12-02')
    expect(localDay(new Date(iso), 'Europe/Berlin')).toBe('2026-12-01')
  })
  it('plain dates stay as they are', () => {
    expect(formatDate('2026-12-31', 'Asia/Shanghai', 'en')).toBe('2026-12-31')
    expect(formatDate(null, 'Asia/Shanghai', 'en')).toBe('—')
  })
  it('local wall time to an instant', () => {
    expect(zonedToIso('2026-12-02', '09:00', 'Asia/Shanghai')).toBe('2026-12-02T01:00:00.000Z')
    expect(zonedToIso('2026-07-01', '09:00', 'Europe/Berlin')).toBe('2026-07-01T07:00:00.000Z')
    expect(zonedToIso('2026-12-01', '09:00', 'Europe/Berlin')).toBe('2026-12-01T08:00:00.000Z')
  })
})
