#!/bin/bash
# Runs on the lent GPU machine (prepared by bench/device/prepare.sh): unpacks Node, dawn.node and the Vulkan
# loaders, then the bench four ways, each with its JSON and table under $OUT (8 files: the tool's limit).
#   ours        128, 256, 512 px: per-layer table at 512, evaluations, Adam and L-BFGS iterations
#   peer        128, 256, 512 px: ours and TensorFlow.js alternating, the ratio and tfjs's memory
#   px1024      1024 px: evaluation and iterations; the tiled table at 1024 and 2048 px under 1 GiB (issue 13) and
#               the 512 px untiled-against-tiled comparison
#   winograd    512 px with the 3x3 layers as Winograd F(2x2,3x3) (--conv-algorithm winograd), per-layer table:
#               against `ours` (direct, a GPU's default), whether Winograd should be the default on a GPU too
#               (the fourth session's cpuchoices run, --parallelism cpu, is recorded in docs/benchmarks.md)
# Random weights (the real ones are 80 MB; times do not depend on the values).
T0=$(date +%s); t() { echo "[run $(( $(date +%s) - T0 )) s] $*"; }
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
mkdir -p /tmp/n && xz -dc .h200/node.xz > /tmp/n/node && chmod +x /tmp/n/node
mkdir -p .h200/node_modules/webgpu/dist/linux-x64 && xz -dc .h200/dawn.node.xz > .h200/node_modules/webgpu/dist/linux-x64/dawn.node
if ! ldconfig -p | grep -q libvulkan; then t "no Vulkan loader"; fi
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$ICD" ] && [ -z "${VK_DRIVER_FILES:-}" ] && export VK_DRIVER_FILES=$ICD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv 2> /dev/null
N=/tmp/n/node; B=".h200/bench.mjs --random-weights"
run() {
  local name=$1 limit=$2; shift 2
  t "$name: $*"
  timeout "$limit" $N $B "$@" --out "$OUT/$name.json" > "$OUT/$name.txt" 2> "/tmp/$name.err"
  t "$name rc=$?"
  grep -v '^  [0-9]*^3' "$OUT/$name.txt"
  grep -v artificially "/tmp/$name.err" | grep -i 'error\|fail' | tail -5
}
run ours 150 --sizes 128,256,512 --layer-size 512 --no-peer --reps 10 --layer-reps 10
run peer 80 --sizes 128,256,512 --no-layers --no-optim --no-f16 --reps 10
run px1024 180 --sizes 1024 --no-layers --no-peer --no-f16 --reps 5 --matmul-size 2048 --tiled 1024,2048 --tiled-budget 1024 --tiled-compare 512
run winograd 100 --sizes 512 --layer-size 512 --no-peer --no-f16 --reps 10 --layer-reps 10 --matmul-size 2048 --conv-algorithm winograd
t done
