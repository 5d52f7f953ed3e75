import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { router } from './router'
import { i18n } from './lib/i18n'
import './styles.css'

document.documentElement.lang = String(i18n.global.locale.value)
createApp(App).use(createPinia()).use(i18n).use(router).mount('#app')
