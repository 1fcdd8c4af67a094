/**
 * `vite build`: dist/style-transfer.js, one ES module that defines <style-transfer> with everything bundled (lit
 * included), so a plain <script type="module"> loads it with no framework or bundler on the page. The demo site
 * has its own config (vite.demo.config.ts).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const projectRoot = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: projectRoot,
  // The library build has no HTML and no public/ folder.
  publicDir: false,
  build: {
    outDir: 'dist', // relative to root
    // The demo (dist/demo/) and custom-elements.json are built after this and land in the same folder.
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    lib: {
      entry: 'src/ui/define.ts', // relative to root
      formats: ['es'],
      fileName: () => 'style-transfer.js',
    },
  },
});
