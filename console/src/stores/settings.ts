import { defineStore } from 'pinia'
import { api } from '../api/client'

// CONTRACT §11: the organisation's settings. Everyone reads the data dictionary (the
// forms offer its lists); only an admin saves.
export interface Dictionary {
  industry: string[]
  source: string[]
  tags: Record<string, string[]>
  relation: string[]
  loss_reason: string[]
  task_type: string[]
}
export interface Settings { superiors_see_subordinates: boolean; dictionary: Dictionary }

export const DICTIONARY_LISTS = ['industry', 'source', 'relation', 'loss_reason', 'task_type'] as const
export type DictionaryList = typeof DICTIONARY_LISTS[number]

export function emptyDictionary(): Dictionary {
  return { industry: [], source: [], tags: {}, relation: [], loss_reason: [], task_type: [] }
}

export function normalise(raw: any): Settings {
  const d = raw?.dictionary ?? {}
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : [])
  const tags: Record<string, string[]> = {}
  if (d.tags && typeof d.tags === 'object' && !Array.isArray(d.tags)) for (const [k, v] of Object.entries(d.tags)) tags[k] = list(v)
  return {
    superiors_see_subordinates: raw?.superiors_see_subordinates !== false,
    dictionary: { industry: list(d.industry), source: list(d.source), tags, relation: list(d.relation), loss_reason: list(d.loss_reason), task_type: list(d.task_type) },
  }
}

export const useSettings = defineStore('settings', {
  state: () => ({ settings: { superiors_see_subordinates: true, dictionary: emptyDictionary() } as Settings, loaded: 0 }),
  getters: {
    dictionary: (s) => s.settings.dictionary,
    allTags: (s) => [...new Set(Object.values(s.settings.dictionary.tags).flat())],
  },
  actions: {
    async load(force = false) {
      if (this.loaded && !force && Date.now() - this.loaded < 60000) return this.settings
      try {
        this.settings = normalise(await api.get('/settings'))
      } catch {
        // Without settings the forms fall back to free input.
      }
      this.loaded = Date.now()
      return this.settings
    },
    async save(next: Settings) {
      this.settings = normalise(await api.put('/settings', next))
      this.loaded = Date.now()
      return this.settings
    },
    /** Options for a select: the list's values, plus the current value if it is not in it. */
    options(list: DictionaryList, current?: string | null) {
      const values = [...this.settings.dictionary[list]]
      if (current && !values.includes(current)) values.push(current)
      return values.map((v) => ({ label: v, value: v }))
    },
  },
})
