import { createI18n } from 'vue-i18n'
import en from '../locales/en'
import zhCN from '../locales/zh-CN'

export type AppLocale = 'zh-CN' | 'en'
const KEY = 'crm.locale' // a display preference only, never a secret

export function initialLocale(): AppLocale {
  try {
    const saved = localStorage.getItem(KEY)
    if (saved === 'en' || saved === 'zh-CN') return saved
  } catch { /* private mode */ }
  return 'zh-CN'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zhCN, en },
})

export function setLocale(locale: AppLocale): void {
  i18n.global.locale.value = locale
  document.documentElement.lang = locale
  try { localStorage.setItem(KEY, locale) } catch { /* ignore */ }
}
