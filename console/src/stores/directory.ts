import { defineStore } from 'pinia'
import { api } from '../api/client'

export interface Person { id: string; username: string; name: string; role: string; team: string; region: string }
export interface Stage { key: string; zh: string; en: string; probability: number; order: number }

export const useDirectory = defineStore('directory', {
  state: () => ({ people: [] as Person[], teams: [] as string[], regions: [] as string[], stages: [] as Stage[], closing: [] as Stage[], loaded: 0 }),
  getters: {
    byId: (s) => Object.fromEntries(s.people.map((p) => [p.id, p])) as Record<string, Person>,
  },
  actions: {
    async load(force = false) {
      if (this.loaded && !force && Date.now() - this.loaded < 60000) return
      const [dir, pipeline] = await Promise.all([api.get('/users/directory'), api.get('/pipeline')])
      this.people = dir.items
      this.teams = dir.teams
      this.regions = dir.regions
      this.stages = pipeline.stages
      this.closing = pipeline.closing
      this.loaded = Date.now()
    },
    name(id: string | null | undefined): string {
      if (!id) return '—'
      return this.byId[id]?.name ?? id.slice(0, 8)
    },
    stageLabel(key: string, locale: string): string {
      const s = [...this.stages, ...this.closing].find((x) => x.key === key)
      if (!s) return key
      return locale === 'en' ? s.en : s.zh
    },
  },
})
