#!/usr/bin/env bash
# benchmarks/gpu.py on a CUDA machine, from a copy of this repository: one command.
#
#   bash benchmarks/gpu_setup.sh [--out DIR] [other benchmarks/gpu.py options]
#   make gpu-bench                                   # the same
#
# The project's constraints.txt pins torch to a CPU build for development machines; this
# script never uses it. It makes .venv-gpu with --system-site-packages, so a CUDA torch the
# machine already has is used as it is; without one it installs the pinned torch version from
# the package index (PyPI's Linux wheels are CUDA builds: a few GB). Then only what the
# benchmark imports, at the project's pins: transformers, tokenizers, safetensors,
# sentence-transformers, peft (the project itself is imported from this folder, not installed).
# Expect 0.5-3 minutes of installing (most of it torch, when it has to come), then ~5 minutes
# of benchmark on an H200.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${GPU_VENV:-.venv-gpu}

# No GPU, no install: stop before touching the network (a CUDA torch is gigabytes).
if [ -z "${GPU_SETUP_ANYWAY:-}" ] && [ ! -e /proc/driver/nvidia/version ] && [ ! -e /dev/nvidia0 ] \
   && [ ! -e /dev/kfd ] && ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu_setup: error: no GPU driver on this machine (no /proc/driver/nvidia, /dev/nvidia0 or" \
       "nvidia-smi); nothing installed. On a CPU, run: python benchmarks/gpu.py --tiny" >&2
  exit 2
fi

has_cuda_torch() {
  "$1" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1
}

VPY=$VENV/bin/python
if [ ! -x "$VPY" ] && ! "$PY" -m venv --system-site-packages "$VENV" >/dev/null 2>&1; then
  # No venv module (Debian's python3 without python3-venv): use that Python itself.
  rm -rf "$VENV"
  echo "gpu_setup: no venv for $PY; installing into its own site-packages" >&2
  VPY=$(command -v "$PY")
  mkdir -p "$VENV"
fi
if ! has_cuda_torch "$VPY"; then
  # --ignore-installed: a CPU build already there (e.g. 2.13.0+cpu) would satisfy the pin.
  # GPU_TORCH overrides what is installed, e.g. for an older driver:
  #   GPU_TORCH="torch==2.13.0 --index-url <an index of CUDA 12.6 builds of torch>"
  spec=${GPU_TORCH:-$(grep '^torch==' constraints.txt)}
  echo "gpu_setup: installing a CUDA build of torch: $spec" >&2
  # shellcheck disable=SC2086  # the spec may carry pip options
  "$VPY" -m pip install -q --ignore-installed $spec
fi
# The project's pins, with torch pinned to the CUDA build now installed: nothing below may
# replace it or pull another one.
torch_version=$("$VPY" -c 'import torch; print(torch.__version__)')
{ grep -v '^torch==' constraints.txt; echo "torch==$torch_version"; } > "$VENV/constraints-gpu.txt"
"$VPY" -m pip install -q -c "$VENV/constraints-gpu.txt" \
  transformers tokenizers safetensors huggingface-hub sentence-transformers peft numpy
"$VPY" - <<'PY'
import torch
print(f"gpu_setup: torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}", flush=True)
PY
exec "$VPY" benchmarks/gpu.py "$@"
