import { useI18n } from 'vue-i18n'
import { useSession } from '../stores/session'
import { formatDate, formatDateTime, formatMoney, formatPercent, compactMoney } from './format'
import type { Locale } from './format'

/** Formatting bound to the signed-in user's time zone and the current language. */
export function useFmt() {
  const { locale } = useI18n()
  const session = useSession()
  const loc = () => (locale.value === 'en' ? 'en' : 'zh-CN') as Locale
  return {
    dt: (iso: string | null | undefined) => formatDateTime(iso, session.timezone, loc()),
    date: (v: string | null | undefined) => formatDate(v, session.timezone, loc()),
    money: (a: string | number | null | undefined, c = 'CNY') => formatMoney(a, c, loc()),
    compact: (a: string | number | null | undefined) => compactMoney(a, loc()),
    pct: (f: number | null | undefined) => formatPercent(f, loc()),
  }
}
