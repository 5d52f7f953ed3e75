import { download } from '../api/client'
import type { Query } from '../api/client'
import { errorMessage } from './errors'
import { ui } from './ui'
import { i18n } from './i18n'

/** The API's PDF of a print view (CONTRACT §10 `?format=pdf`), fetched with the token
 * in a header (never in a URL) and saved. */
export async function openPdf(path: string, query: Query, fallbackName: string): Promise<void> {
  try {
    await download(path, { ...query, format: 'pdf' }, fallbackName)
  } catch (e) {
    ui.message?.error(errorMessage(e, (k: string) => i18n.global.t(k)))
  }
}
