/**
 * The demo: `npm start` serves demo/index.html with vite's dev server; `npm run build` writes it as a static site
 * to dist/demo/ (relative URLs, so it works from any path), which `npm run preview` serves. The page reads the VGG-19
 * weights from weights/ next to itself: the dev and preview servers (page at /) serve the directory named by
 * STYLE_TRANSFER_WEIGHTS at /weights/, else the project's weights/ (written by `npm run weights`). A static host
 * puts them in a weights/ folder beside index.html (or the page is given ?weights=URL).
 * bench.html, the shader benchmark, needs no weights (random ones unless ?weights=URL).
 */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { serveDirectory } from './demo/serve-directory.js';

const projectRoot = fileURLToPath(new URL('.', import.meta.url));

function weightsPlugin(): Plugin {
  const directory = resolve(projectRoot, process.env.STYLE_TRANSFER_WEIGHTS ?? 'weights');
  const middleware = serveDirectory('/weights/', directory);
  return {
    name: 'style-transfer-weights',
    configureServer: (server) => void server.middlewares.use(middleware),
    configurePreviewServer: (server) => void server.middlewares.use(middleware),
  };
}

export default defineConfig({
  root: resolve(projectRoot, 'demo'),
  base: './',
  publicDir: false,
  plugins: [weightsPlugin()],
  server: { fs: { allow: [projectRoot] } },
  build: {
    outDir: resolve(projectRoot, 'dist/demo'),
    emptyOutDir: true,
    target: 'es2022',
    // Two pages: the demo and the shader benchmark (bench.html, which alone loads TensorFlow.js, as a lazy chunk).
    rollupOptions: {
      input: {
        main: resolve(projectRoot, 'demo/index.html'),
        bench: resolve(projectRoot, 'demo/bench.html'),
      },
    },
  },
});
