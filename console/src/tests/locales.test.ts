import { describe, expect, it } from 'vitest'
import en from '../locales/en'
import zh from '../locales/zh-CN'

function keys(obj: any, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => (v && typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]))
}

describe('locales', () => {
  it('zh-CN and en have exactly the same keys', () => {
    expect(keys(en).sort()).toEqual(keys(zh).sort())
  })
  it('no empty messages and no vue-i18n special characters by accident', () => {
    for (const [name, messages] of [['en', en], ['zh', zh]] as const) {
      for (const key of keys(messages)) {
        const value = key.split('.').reduce((o: any, k) => o[k], messages)
        expect(value, `${name}:${key}`).toBeTruthy()
        expect(String(value), `${name}:${key}`).not.toMatch(/[@|]/)
      }
    }
  })
})
