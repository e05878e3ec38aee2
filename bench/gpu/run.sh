#!/bin/bash
# TL's GPU benchmark, run from the repository root on the GPU machine with .gpu and .gl carried
# over (built here by `npm run bench:gpu`; see docs/benchmarks-gpu.md). That machine has no Node.js
# and no network: Node travels xz-compressed, the benchmark as one bundle, the Vulkan loader as a
# .deb. PyTorch runs first, then tfjs, one after the other on the same GPU; everything lands in $OUT.
# The default limits (100 s for each PyTorch script, then whatever is left of 570 s for tfjs) keep the
# whole script under the device tool's 600 s.
set -u
OUT=${OUT:-/tmp/tl-bench-out}
mkdir -p "$OUT"
ROOT=$(pwd)
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
J=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export VK_DRIVER_FILES=$J VK_ICD_FILENAMES=$J
B=/tmp/tl-bench
mkdir -p "$B" && xz -dc .gpu/node.xz > "$B/node" && chmod +x "$B/node" && tar -C "$B" -xJf .gpu/app.tar.xz
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; "$B/node" --version; } > "$OUT/machine.txt" 2>&1
if [ "${SKIP_TORCH:-0}" != 1 ]; then
  timeout "${TORCH_TIMEOUT:-100}" python3 .gpu/torch-reference.py > "$OUT/torch-resnet50.txt" 2>&1
  timeout "${TORCH_TIMEOUT:-100}" python3 .gpu/torch-reference-mobilenetv2.py > "$OUT/torch-mnv2.txt" 2>&1
fi
echo "PyTorch done after $SECONDS s" >> "$OUT/machine.txt"
LEFT=$(( ${TOTAL_TIMEOUT:-570} - SECONDS ))
cd "$B" && TL_TORCH_DIR="$OUT" timeout "${BENCH_TIMEOUT:-$LEFT}" ./node bench.mjs --out "$OUT/bench-gpu.md" > "$OUT/bench-log.txt" 2>&1
echo "bench exit $? after $SECONDS s" >> "$OUT/bench-log.txt"
cd "$ROOT"
tail -n 80 "$OUT/bench-log.txt"
