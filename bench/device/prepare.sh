#!/bin/bash
# Prepares a bench run on a lent GPU machine (the `device` tool, which carries at most 64 MiB and reaches no
# registry): everything the run needs, in two git-ignored folders of the checkout that the call names in `carry`.
#   .h200/  the bench bundled into one file (esbuild, tfjs included; only `webgpu` stays external), the `webgpu`
#           package's entry with its linux-x64 dawn.node (xz), this machine's Node binary (xz), bench/device/run.sh
#   .gl/    the Vulkan loader and GL dispatch .debs, unpacked on the machine at the start of each call
#   .h200w/ only with WEIGHTS=DIR: the CLI bundled (cli.mjs) and the weights as f16 (bench/device/weights_f16.py),
#           for bench/device/stylize.sh
# Then: run `bash .h200/run.sh` with carry [".h200", ".gl"], or `bash .h200/stylize.sh` with carry [".h200", ".gl",
# ".h200w"] (see docs/benchmarks.md, "On a lent GPU").
set -euo pipefail
cd "$(dirname "$0")/../.."
for d in /.h200/ /.gl/ /.h200w/; do grep -qx "$d" .git/info/exclude || echo "$d" >> .git/info/exclude; done
rm -rf .h200 && mkdir -p .h200/node_modules/webgpu .gl
npx tsc -p tsconfig.build.json
# esbuild comes with vite. The bundle is ESM; CommonJS dependencies (pngjs, tfjs) get a require() from the banner.
npx esbuild build/bench/index.js --bundle --platform=node --format=esm --target=node20 --external:webgpu \
  --outfile=.h200/bench.mjs --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json .h200/node_modules/webgpu/
xz -T0 -9 -c node_modules/webgpu/dist/linux-x64/dawn.node > .h200/dawn.node.xz
xz -T0 -9 -c "$(command -v node)" > .h200/node.xz
cp bench/device/run.sh bench/device/stylize.sh .h200/
if [ -n "${WEIGHTS:-}" ]; then
  rm -rf .h200w && mkdir -p .h200w
  printf "import { main } from '../build/src/cli/main.js';\nprocess.exit(await main(process.argv.slice(2)));\n" > .h200w/entry.mjs
  npx esbuild .h200w/entry.mjs --bundle --platform=node --format=esm --target=node20 --external:webgpu \
    --outfile=.h200w/cli.mjs --log-level=warning \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
  rm .h200w/entry.mjs
  cp bench/device/weights_f16.py .h200w/
  python3 bench/device/weights_f16.py pack "$WEIGHTS" .h200w
fi
if ! ls .gl/libvulkan1_*.deb > /dev/null 2>&1; then
  mkdir -p /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update > /dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .h200 .gl .h200w 2> /dev/null || true
