import type { CamlabelBridge } from '../shared/contracts/index.ts'

declare global {
  interface Window {
    camlabel: CamlabelBridge
  }
}
export {}
