/**
 * Registers <style-transfer>. This is the entry of `dist/style-transfer.js` (vite.config.ts): importing it is all a
 * page needs. Registering twice (two copies of the bundle) keeps the first definition instead of throwing.
 */
import { StyleTransferElement } from './style-transfer.js';

export { StyleTransferElement };
export type * from './events.js';
export type { ImageSource } from './image-source.js';
export type { GpuBufferStats } from './style-transfer.js';

if (!customElements.get('style-transfer')) customElements.define('style-transfer', StyleTransferElement);

declare global {
  interface HTMLElementTagNameMap {
    'style-transfer': StyleTransferElement;
  }
}
