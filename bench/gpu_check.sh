#!/usr/bin/env bash
# The GPU check in one command, for whoever has a GPU: QLoRA CPT and SFT on the largest Gemma 3 present
# (gemma3-27b-pt / -it from the local Hugging Face cache, else gemma3-270m), peak device memory against
# `rungs plan`, tokens/s, and DDP / FSDP on two GPUs where there are two; results go to bench/RESULTS.md.
# Without a GPU it says so and runs the same code on the CPU on model=tiny. Options: bench/gpu_check.py --help.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
exec "$PY" bench/gpu_check.py "$@"
