#!/usr/bin/env bash
# Run benchmarks/detection_gpu.py on a bare machine: only this repository and a Python 3.10-3.12
# (mediapipe 0.10.21, the source of the weights, has no wheel for 3.13).
#
#   benchmarks/detection_gpu.sh --quick          # any arguments go to detection_gpu.py
#   VENV=/tmp/detgpu PYTHON=python3.11 benchmarks/detection_gpu.sh
#
# Creates $VENV (default ~/.cache/slipway/detection-gpu-venv, outside the work tree) with pip,
# installs $ONNXRUNTIME (default onnxruntime-gpu with its CUDA and cuDNN wheels; falls back to
# the CPU onnxruntime where that fails; ONNXRUNTIME=onnxruntime skips the GPU download), tflite2onnx, LiteRT, Pillow, scikit-image (the test photos), the weights
# (mediapipe==0.10.21 --no-deps) and Slipway itself with --no-deps plus the few packages
# `slipway.flavors.detection` imports (numpy, pandas, fsspec, orjson). Not pinned by
# requirements/lock.txt: its pins are resolved for Slipway's whole dependency set (pip refuses
# e.g. its backports-strenum pin beside ai-edge-litert). Idempotent. pip's own settings apply, e.g. PIP_INDEX_URL, or
# PIP_NO_INDEX=1 PIP_FIND_LINKS=<wheel folder> on a machine without a package index.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway/detection-gpu-venv}"
onnxruntime="${ONNXRUNTIME:-onnxruntime-gpu[cuda,cudnn]}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)

"${pip[@]}" numpy pillow ai-edge-litert scikit-image orjson pandas fsspec
# The CUDA provider needs CUDA 12 and cuDNN 9: the extras bring them as wheels
# (onnxruntime.preload_dlls() loads them); without a GPU the same package runs on the CPU.
if ! "${pip[@]}" "$onnxruntime"; then
    echo "$onnxruntime is not installable here: using the CPU onnxruntime" >&2
    "${pip[@]}" onnxruntime
fi
"${pip[@]}" tflite2onnx
"${pip[@]}" --no-deps mediapipe==0.10.21
"${pip[@]}" --no-deps -e "$repo"

cd "$repo"
exec "$venv/bin/python" benchmarks/detection_gpu.py --convert-python "$venv/bin/python" "$@"
