// Exact decimal arithmetic for money the user types (quotes, plans): no floats anywhere.
// A decimal string is held as a BigInt of units of 10^-SCALE.
const SCALE = 6
const ONE = 10n ** BigInt(SCALE)

/** "12,000.5" / 12000.5 / "" → scaled BigInt, or null when not a plain non-negative decimal. */
export function toUnits(input: string | number | null | undefined): bigint | null {
  if (input === null || input === undefined) return null
  const text = String(input).replace(/[,\s¥￥]/g, '')
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(text)
  if (!m || (m[2] === '' && !m[3])) return null
  const [, sign, whole, frac = ''] = m
  if (frac.length > SCALE) return null
  const units = BigInt(whole || '0') * ONE + BigInt((frac + '0'.repeat(SCALE)).slice(0, SCALE))
  return sign ? -units : units
}

/** Scaled units → a string with `places` decimals, rounded half away from zero. */
export function fromUnits(units: bigint, places = 2): string {
  const negative = units < 0n
  let abs = negative ? -units : units
  const drop = 10n ** BigInt(SCALE - places)
  abs = (abs + drop / 2n) / drop
  const div = 10n ** BigInt(places)
  const whole = abs / div
  const frac = places ? '.' + (abs % div).toString().padStart(places, '0') : ''
  return `${negative && abs !== 0n ? '-' : ''}${whole}${frac}`
}

/** A quote line as the API prices it: quantity × unit price less `discount` percent
 * (0–100, "10" = 10 % off), rounded half-up to the cent. */
export function lineTotal(quantity: string | number | null | undefined, unitPrice: string | number | null | undefined, discount?: string | number | null): bigint | null {
  const q = toUnits(quantity)
  const p = toUnits(unitPrice)
  if (q === null || p === null || q <= 0n || p < 0n) return null
  const d = discount === null || discount === undefined || discount === '' ? 0n : toUnits(discount)
  if (d === null || d < 0n || d > 100n * ONE) return null
  const exact = q * p * (100n * ONE - d) // scale ONE^3 × 100
  const unit = ONE * ONE * ONE // one cent at that scale (÷100 for the percent, ×100 for cents)
  const cents = (exact + unit / 2n) / unit
  return cents * (ONE / 100n)
}

/** Sum of money strings (or the invalid ones counted as zero) as a 2-decimal string. */
export function sumMoney(values: (string | number | null | undefined)[]): string {
  return fromUnits(values.reduce<bigint>((acc, v) => acc + (toUnits(v) ?? 0n), 0n))
}

/** a − b as a 2-decimal string. */
export function subtractMoney(a: string | number | null | undefined, b: string | number | null | undefined): string {
  return fromUnits((toUnits(a) ?? 0n) - (toUnits(b) ?? 0n))
}

export function isZero(value: string): boolean {
  return toUnits(value) === 0n
}
