#!/bin/bash
# TL's GPU benchmark, run from the repository root on the GPU machine with .gpu and .gl carried
# over (built here by `npm run bench:gpu`; see docs/benchmarks-gpu.md). That machine has no Node.js
# and no network: Node travels xz-compressed, the benchmark as one bundle, the Vulkan loader as a
# .deb. PyTorch runs first, then tfjs, one after the other on the same GPU; everything lands in $OUT.
# Before the benchmark, probe.mjs asks Dawn for the GPU; where the NVIDIA Vulkan driver does not
# come up, the script records why in $OUT/diag.txt and tries, in turn: glvnd and the X libraries
# beside the driver (.gl/extra), the modeset device node, then the GPU through OpenGL (EGL).
# The default limits (100 s for each PyTorch script, then whatever is left of TOTAL_TIMEOUT, 570 s,
# for tfjs) keep the whole script under the device tool's 600 s. SKIP_TORCH=1 with TL_TORCH_DIR
# set reads an earlier run's PyTorch output instead. Time left after the benchmark goes to its
# kernel and tile tables with Dawn's robustness off (below).
set -u
OUT=${OUT:-/tmp/tl-bench-out}
mkdir -p "$OUT"
ROOT=$(pwd)
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
J=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export VK_DRIVER_FILES=$J VK_ICD_FILENAMES=$J
B=/tmp/tl-bench
mkdir -p "$B" && xz -dc .gpu/node.xz > "$B/node" && chmod +x "$B/node" && tar -C "$B" -xJf .gpu/app.tar.xz && cp .gpu/probe.mjs "$B/"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; "$B/node" --version; uname -r; } > "$OUT/machine.txt" 2>&1

D="$OUT/diag.txt"
probe() { echo "--- probe $1 (${2:-as is})" >> "$D"; (cd "$B" && timeout 60 ./node probe.mjs "$1") >> "$D" 2>&1; }
diagnose() {
  {
    echo "--- driver"; cat /proc/driver/nvidia/version; grep -E '^nvidia' /proc/modules; ls -la /dev/nvidia* /dev/dri 2>&1
    echo "--- icd"; cat "$J"; ls /usr/local/nvidia/share/vulkan/*/ /usr/local/nvidia/share/glvnd/*/ 2>&1
    echo "--- driver libraries"; ls /usr/local/nvidia/lib64 /usr/local/nvidia/lib 2>&1 | grep -E 'GLX|EGL|GLdispatch|vulkan|spirv|gpucomp|glcore|tls|present'
    echo "--- ldconfig"; ldconfig -p | grep -E 'GLX|GLdispatch|libX11|libXext|vulkan|gpucomp|spirv'
    G=$(ldconfig -p | awk '/libGLX_nvidia.so.0/ {print $NF; exit}'); echo "--- ldd $G"; [ -n "$G" ] && ldd "$G"
    echo "--- env"; env | grep -i -E 'nvidia|^vk_|ld_library|egl' | sort
    nvidia-smi -q | grep -i -E 'display|persistence|virtualization|mig mode' | head -12
  } >> "$D" 2>&1
}
MODE=
probe vulkan && MODE=vulkan
if [ -z "$MODE" ]; then
  diagnose
  mkdir -p /tmp/glx && for f in .gl/extra/*.deb; do dpkg -x "$f" /tmp/glx; done
  export LD_LIBRARY_PATH=/tmp/glx/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  probe vulkan "glvnd and X libraries on LD_LIBRARY_PATH" && MODE=vulkan
fi
if [ -z "$MODE" ] && [ ! -e /dev/nvidia-modeset ]; then
  { command -v nvidia-modprobe && nvidia-modprobe -m; modprobe nvidia-modeset; [ -e /dev/nvidia-modeset ] || mknod -m 666 /dev/nvidia-modeset c 195 254; ls -la /dev/nvidia-modeset; } >> "$D" 2>&1
  probe vulkan "with /dev/nvidia-modeset" && MODE=vulkan
fi
if [ -z "$MODE" ]; then
  echo "--- loader debug" >> "$D"; (cd "$B" && VK_LOADER_DEBUG=error,warn,driver timeout 60 ./node probe.mjs vulkan 2>&1 | head -60) >> "$D"
  echo "--- libraries the driver failed to load" >> "$D"; (cd "$B" && LD_DEBUG=libs timeout 60 ./node probe.mjs vulkan 2>&1 | grep -i -E 'cannot|error|not found|nvidia' | grep -v -E 'search path|trying file' | head -60) >> "$D"
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  probe opengl "NVIDIA EGL through glvnd" && MODE=opengl
fi
echo "adapter: ${MODE:-none}" | tee -a "$OUT/machine.txt"
[ -z "$MODE" ] && { tail -n 120 "$D"; exit 1; }

if [ "${SKIP_TORCH:-0}" != 1 ]; then
  timeout "${TORCH_TIMEOUT:-100}" python3 .gpu/torch-reference.py > "$OUT/torch-resnet50.txt" 2>&1
  timeout "${TORCH_TIMEOUT:-100}" python3 .gpu/torch-reference-mobilenetv2.py > "$OUT/torch-mnv2.txt" 2>&1
  export TL_TORCH_DIR="$OUT"
fi
echo "PyTorch done after $SECONDS s" >> "$OUT/machine.txt"
LEFT=$(( ${TOTAL_TIMEOUT:-570} - SECONDS ))
[ "$MODE" = opengl ] && export BENCH_OPENGL=1
cd "$B" && TL_TORCH_DIR="${TL_TORCH_DIR:-$OUT}" timeout "${BENCH_TIMEOUT:-$LEFT}" ./node bench.mjs --out "$OUT/bench-gpu.md" > "$OUT/bench-log.txt" 2>&1
echo "bench exit $? after $SECONDS s" >> "$OUT/bench-log.txt"
# A plain run with 90 s or more left: the kernel and tile tables again with Dawn's robustness off,
# to set beside the run's own (what the clamps on indices Tint cannot prove in bounds cost TL's
# kernels; docs/benchmarks-gpu.md, "Run it"). ROBUSTNESS_PASS=0 leaves it out.
LEFT=$(( ${TOTAL_TIMEOUT:-570} - SECONDS ))
if [ "${ROBUSTNESS_PASS:-1}" = 1 ] && [ -z "${BENCH_SECTIONS:-}" ] && [ -z "${TL_DAWN_FLAGS:-}" ] && [ "$LEFT" -ge 90 ]; then
  BENCH_SECTIONS=kernels,tiles TL_DAWN_FLAGS="enable-dawn-features=allow_unsafe_apis,disable_robustness" timeout "$LEFT" ./node bench.mjs --out "$OUT/bench-gpu-no-robustness.md" > "$OUT/bench-log-no-robustness.txt" 2>&1
  echo "bench without robustness exit $? after $SECONDS s" >> "$OUT/bench-log-no-robustness.txt"
  tail -n 3 "$OUT/bench-log-no-robustness.txt"
fi
cd "$ROOT"
tail -n 80 "$OUT/bench-log.txt"
