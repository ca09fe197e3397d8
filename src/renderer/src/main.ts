/** Renderer entry: Vue + Pinia over the bridge. */
import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import './theme.css'

createApp(App).use(createPinia()).mount('#app')
