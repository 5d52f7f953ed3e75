// The message and dialog APIs of Naive UI, captured once inside the providers so that
// stores and plain modules can use them too.
import type { DialogApi as DialogApiInjection, MessageApi as MessageApiInjection } from 'naive-ui'
import { ref, onMounted, onBeforeUnmount } from 'vue'

export const ui: { message: MessageApiInjection | null; dialog: DialogApiInjection | null } = { message: null, dialog: null }

export function confirm(title: string, content: string, positiveText: string, negativeText: string, danger = false): Promise<boolean> {
  return new Promise((resolve) => {
    if (!ui.dialog) return resolve(window.confirm(content))
    const options = {
      title, content, positiveText, negativeText,
      onPositiveClick: () => resolve(true),
      onNegativeClick: () => resolve(false),
      onClose: () => resolve(false),
      onMaskClick: () => resolve(false),
    }
    if (danger) ui.dialog.warning(options)
    else ui.dialog.info(options)
  })
}

export function useIsMobile(width = 768) {
  const mobile = ref(typeof window !== 'undefined' && window.innerWidth < width)
  const update = () => { mobile.value = window.innerWidth < width }
  onMounted(() => window.addEventListener('resize', update))
  onBeforeUnmount(() => window.removeEventListener('resize', update))
  return mobile
}
