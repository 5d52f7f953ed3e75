import { defineStore } from 'pinia'
import { api } from '../api/client'

export interface Note { id: string; kind: string; title: string; ref: { type: string; id: string } | null; created_at: string; read: boolean }

export const useInbox = defineStore('inbox', {
  state: () => ({ unread: 0, items: [] as Note[], timer: 0 as any }),
  actions: {
    async refresh() {
      try {
        const page = await api.get('/notifications', { unread: true, per_page: 20 })
        this.items = page.items
        this.unread = typeof page.unread === 'number' ? page.unread : page.total
      } catch { /* the next tick retries; 401 is handled by the client */ }
    },
    start(intervalMs = 10000) {
      this.stop()
      this.refresh()
      this.timer = setInterval(() => { if (!document.hidden) this.refresh() }, intervalMs)
    },
    stop() {
      if (this.timer) clearInterval(this.timer)
      this.timer = 0
    },
    async read(id: string) {
      await api.post(`/notifications/${encodeURIComponent(id)}/read`)
      await this.refresh()
    },
    async readAll() {
      await api.post('/notifications/read-all')
      await this.refresh()
    },
  },
})
