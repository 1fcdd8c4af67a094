#!/bin/bash
# Runs on the lent GPU machine (prepared by WEIGHTS=DIR bench/device/prepare.sh): the CLI end to end on the bundled
# samples at 512 px, 500 iterations, L-BFGS then Adam; then 2048 px under a 1 GiB budget (tiled, issue 13), two
# L-BFGS iterations with the default line search; images and --log-json files under $OUT.
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
mkdir -p /tmp/n /tmp/w .h200/node_modules/webgpu/dist/linux-x64
xz -dc .h200/node.xz > /tmp/n/node && chmod +x /tmp/n/node
xz -dc .h200/dawn.node.xz > .h200/node_modules/webgpu/dist/linux-x64/dawn.node
cp .h200w/cli.mjs .h200/ # beside node_modules/webgpu
python3 .h200w/weights_f16.py expand .h200w /tmp/w || exit 1
for o in lbfgs adam; do
  echo "== $o"
  /tmp/n/node .h200/cli.mjs --content samples/chelsea.png --style samples/starry_night.jpg --size 512 --iterations 500 \
    --print-every 100 --weights /tmp/w --optimizer "$o" --log-json "$OUT/$o-512.json" -o "$OUT/cat-512-$o.png" 2>&1 | grep -v artificially
done
echo "== 2048 px, --max-memory 1024"
/tmp/n/node .h200/cli.mjs --content samples/chelsea.png --style samples/starry_night.jpg --size 2048 --iterations 2 \
  --max-memory 1024 --weights /tmp/w --log-json "$OUT/lbfgs-2048.json" -o "$OUT/cat-2048.png" 2>&1 | grep -v artificially
