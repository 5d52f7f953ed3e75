/// <reference types="vite/client" />
declare module '*.vue' {
  import type { DefineComponent } from 'vue'
  const component: DefineComponent<object, object, any>
  export default component
}

// data-test hooks for the browser tests on inputs rendered by the component library
declare module '@vue/runtime-dom' {
  interface HTMLAttributes {
    'data-test'?: string
  }
}
export {}
