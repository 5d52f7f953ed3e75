import { describe, expect, it } from 'vitest'
import { fromUnits, isZero, lineTotal, subtractMoney, sumMoney, toUnits } from '../lib/money'

describe('exact money', () => {
  it('adds without float error', () => {
    expect(sumMoney(['0.1', '0.2'])).toBe('0.30')
    expect(sumMoney(['12,000.50', 3, ''])).toBe('12003.50')
  })
  it('line totals with a percentage discount, rounded half up to cents', () => {
    expect(fromUnits(lineTotal('3', '19.99')!)).toBe('59.97')
    expect(fromUnits(lineTotal('2', '100', '10')!)).toBe('180.00')
    expect(fromUnits(lineTotal('1', '0.05', '50')!)).toBe('0.03')
    expect(lineTotal('x', '1')).toBeNull()
    expect(lineTotal('1', '1', '101')).toBeNull()
  })
  it('differences and zero', () => {
    expect(subtractMoney('100000.00', '99999.99')).toBe('0.01')
    expect(subtractMoney('1', '3')).toBe('-2.00')
    expect(isZero(subtractMoney('50.00', '50'))).toBe(true)
    expect(toUnits('abc')).toBeNull()
  })
})
