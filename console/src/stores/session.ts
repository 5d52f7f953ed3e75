import { defineStore } from 'pinia'
import { api } from '../api/client'
import { getToken, setToken } from '../api/token'
import type { Role } from '../lib/permissions'

export interface Me {
  id: string
  username: string
  name: string
  role: Role
  team: string
  region: string
  timezone: string
  must_change_password: boolean
}

export const useSession = defineStore('session', {
  state: () => ({ me: null as Me | null, mustChange: false, token: getToken() }),
  getters: {
    signedIn: (s) => !!s.token,
    role: (s): Role | null => s.me?.role ?? null,
    timezone: (s) => s.me?.timezone ?? 'Asia/Shanghai',
  },
  actions: {
    async login(username: string, password: string) {
      const reply = await api.post('/auth/login', { username, password })
      setToken(reply.access_token)
      this.token = reply.access_token
      this.mustChange = !!reply.must_change_password
      if (!this.mustChange) await this.loadMe()
      return reply
    },
    async loadMe() {
      this.me = await api.get<Me>('/me')
      this.mustChange = !!this.me.must_change_password
      return this.me
    },
    async ensureMe() {
      if (!this.token) return null
      if (this.me) return this.me
      try {
        return await this.loadMe()
      } catch (error: any) {
        if (error?.code === 'password_change_required') {
          this.mustChange = true
          return null
        }
        throw error
      }
    },
    async changePassword(oldPassword: string, newPassword: string) {
      await api.post('/auth/password', { old_password: oldPassword, new_password: newPassword })
      this.mustChange = false
      await this.loadMe()
    },
    clear() {
      setToken(null)
      this.token = null
      this.me = null
      this.mustChange = false
    },
  },
})
