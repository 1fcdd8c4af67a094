/**
 * The package as a page author gets it: `npm pack`, then a fresh Vite + TypeScript app outside the project tree
 * (in the system's temp directory) installs the tarball, imports the element and the API with their types
 * (`tsc --noEmit` clean, and a deliberate type error caught), imports the root and `style-transfer/node` in Node,
 * builds with `vite build`, and its built page runs the element in Chromium.
 *
 * It installs vite and typescript from the npm registry and packs (builds) the project, so it runs only when
 * STYLE_TRANSFER_PACKAGE_TEST=1 (`npm run test:package`): a few minutes, and a network most test runs lack.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BROWSER_SKIP_REASON,
  launchChromium,
  logPageErrors,
  recordEvents,
  repoRoot,
  servedWeightsDir,
  startServer,
  waitForEnd,
  type TestBrowser,
  type TestServer,
} from './harness.js';

const run = promisify(execFile);
const ENABLED = process.env.STYLE_TRANSFER_PACKAGE_TEST === '1';
const SKIP = !ENABLED ? 'SKIPPED: the package test runs with STYLE_TRANSFER_PACKAGE_TEST=1 (npm run test:package)' : BROWSER_SKIP_REASON;
if (SKIP) console.warn(SKIP);

const projectPackage = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };

const MAIN_TS = `import 'style-transfer/define';
import { StyleTransferElement } from 'style-transfer/element';
import { resolveOptions, WEIGHTS_PRECISIONS, type StylizeOptions, type WeightsPrecision } from 'style-transfer';

const options: StylizeOptions = resolveOptions({ size: 24, iterations: 3 });
const precision: WeightsPrecision = WEIGHTS_PRECISIONS[0];
const element = document.querySelector('style-transfer');
if (!(element instanceof StyleTransferElement)) throw new Error('<style-transfer> is not defined');
element.weightsPrecision = precision;
element.size = options.size;
element.iterations = options.iterations;
element.addEventListener('style-transfer-complete', (event) => {
  const iterations: number = event.detail.iterations;
  document.title = \`complete \${iterations}\`;
});
void element.start();
`;

const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>package test</title></head>
  <body>
    <style-transfer content-src="/samples/chelsea.png" style-src="/samples/starry_night.jpg" weights-src="/weights/"></style-transfer>
    <script type="module" src="/src/main.ts"></script>
  </body>
</html>
`;

// What Vite's vanilla-ts template sets, minus what does not matter here.
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'ESNext',
    moduleResolution: 'bundler',
    lib: ['ES2022', 'DOM', 'DOM.Iterable'],
    types: ['vite/client'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    isolatedModules: true,
  },
  include: ['src'],
};

describe.skipIf(!!SKIP)('the npm package in a fresh Vite + TypeScript app', () => {
  let dir: string;
  let app: string;
  let server: TestServer;
  let chromium: TestBrowser;
  const timings: string[] = [];

  async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      timings.push(`${what}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'style-transfer-package-'));
    app = join(dir, 'app');
    await timed('npm pack (builds)', () => run('npm', ['pack', '--pack-destination', dir], { cwd: repoRoot, maxBuffer: 64 << 20 }));
    const tarball = readdirSync(dir).find((n) => n.endsWith('.tgz'));
    expect(tarball).toBe(`style-transfer-${projectPackage.version}.tgz`);
    mkdirSync(join(app, 'src'), { recursive: true });
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify(
        {
          name: 'style-transfer-package-test',
          private: true,
          type: 'module',
          dependencies: { 'style-transfer': `file:../${tarball}` },
          devDependencies: { typescript: projectPackage.devDependencies.typescript, vite: projectPackage.devDependencies.vite },
        },
        null,
        2,
      ),
    );
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(join(app, 'index.html'), INDEX_HTML);
    writeFileSync(join(app, 'src/main.ts'), MAIN_TS);
    await timed('npm install', () => run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, maxBuffer: 64 << 20 }));
  }, 900_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (timings.length) console.log(`package test timings:\n  ${timings.join('\n  ')}`);
  });

  it('ships what runs: no tests, sources, docs pictures or samples', () => {
    const installed = join(app, 'node_modules/style-transfer');
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name).slice(installed.length + 1)]));
    const files = walk(installed);
    timings.push(`files in the package: ${files.length}`);
    expect(files.filter((f) => /^(test|samples|docs|src|demo|tools|weights)\//.test(f) || f.endsWith('.ts') === !f.endsWith('.d.ts'))).toEqual([]);
    for (const needed of [
      'package.json',
      'README.md',
      'bin/style-transfer.js',
      'build/src/index.js',
      'build/src/index.d.ts',
      'build/src/ui/define.js',
      'dist/style-transfer.js',
      'build/scripts/weights.js',
    ]) {
      expect(files, needed).toContain(needed);
    }
  });

  it('tsc --noEmit is clean with the imports typed; a wrong type is caught', async () => {
    await timed('tsc --noEmit', () => run('npx', ['tsc', '--noEmit', '-p', '.'], { cwd: app }));
    writeFileSync(join(app, 'src/wrong.ts'), "import { resolveOptions } from 'style-transfer';\nexport const size: string = resolveOptions({}).size;\n");
    const failure = await run('npx', ['tsc', '--noEmit', '-p', '.'], { cwd: app }).then(
      () => undefined,
      (e: { stdout?: string }) => e.stdout ?? '',
    );
    rmSync(join(app, 'src/wrong.ts'));
    expect(failure).toMatch(/src\/wrong\.ts.*TS2322: Type 'number' is not assignable to type 'string'/);
  }, 300_000);

  it('Node imports the root and style-transfer/node', async () => {
    const { stdout } = await run(
      'node',
      [
        '--input-type=module',
        '-e',
        "const a = await import('style-transfer'); const b = await import('style-transfer/node'); console.log(typeof a.stylize, typeof a.resolveOptions, typeof b.openNodeRuntime, typeof b.loadWeightsFile);",
      ],
      { cwd: app },
    );
    expect(stdout.trim()).toBe('function function function function');
  }, 120_000);

  it('vite build, then the built page runs the element in Chromium', async () => {
    await timed('vite build', () => run('npx', ['vite', 'build'], { cwd: app, env: { ...process.env, NODE_ENV: 'production' } }));
    server = await startServer([
      ['/weights/', await servedWeightsDir()],
      ['/samples/', join(repoRoot, 'samples')],
      ['/', join(app, 'dist')],
    ]);
    chromium = await launchChromium();
    const page = await chromium.browser.newPage();
    logPageErrors(page, 'package app');
    await page.evaluateOnNewDocument(recordEvents);
    const events = await timed('the built page in Chromium', async () => {
      await page.goto(`${server.origin}/`);
      return waitForEnd(page, 300_000);
    });
    expect(events.filter((e) => e.type === 'style-transfer-error')).toEqual([]);
    expect(events.filter((e) => e.type === 'style-transfer-progress').map((e) => e.detail.iteration)).toEqual([1, 2, 3]);
    expect(await page.title()).toBe('complete 3');
  }, 600_000);
});
