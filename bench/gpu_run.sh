#!/usr/bin/env bash
# One call on a lent GPU machine: the CUDA tests, then the benchmark at full size within a time budget.
#
# Sized for a short lease (one command may run 10 minutes): the tests are stopped after 180 s, the
# modulated-convolution comparison after 60 s, and the benchmark starts nothing new after
# $BENCH_BUDGET_MINUTES (4) and is killed after $BENCH_TIMEOUT (280) seconds. It rewrites its results
# after every measurement, so whatever it measured comes back. Everything lands in $OUT (the device
# tool's folder), or in bench/results/ without it.
#
# The GPU machine has PyTorch but not this package, and only the repository travels there, so the
# tests read the conformance fixtures from .gpu-fixtures/ (ignored by git), filled here first:
#   mkdir -p .gpu-fixtures/stylegan2 && cp ../shared/fixtures/stylegan2/{tiny,small}_{ada.pkl,expected.npz} .gpu-fixtures/stylegan2/
# then, through the device tool, with carry [".gpu-fixtures"]:
#   bash bench/gpu_run.sh                                    # 1024² config-f first, then 256²
#   SKIP_TESTS=1 bash bench/gpu_run.sh --generators random:256 --name cuda-256-$(date +%F)
# Copy the returned cuda-*.json/.md into bench/results/ and quote them in the README's Speed section.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export STYLEGAN_INVERT_FIXTURES="${STYLEGAN_INVERT_FIXTURES:-$PWD/.gpu-fixtures}"

{
  date -u +%FT%TZ
  nvidia-smi -L 2>&1
  python3 -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
    "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
} > "$out/gpu-env.txt" 2>&1
cat "$out/gpu-env.txt"

if [ -z "${SKIP_TESTS:-}" ]; then
  timeout "${TEST_TIMEOUT:-180}" python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 \
    | tee "$out/cuda-tests.log"
fi

# modulated convolution, activations vs weights form, at batch 1 (seconds; decides ops.modulated_conv2d on GPUs)
[ -z "${SKIP_MODCONV:-}" ] && timeout 60 python3 bench/modconv.py --device "${BENCH_DEVICE:-cuda}" \
  --generators random:256,random:ffhq-1024 --out "$out" 2>&1 | tail -3

args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--full)
timeout "${BENCH_TIMEOUT:-280}" python3 bench/bench_projection.py --device "${BENCH_DEVICE:-cuda}" \
  --budget-minutes "${BENCH_BUDGET_MINUTES:-4}" --out "$out" "${args[@]}" 2>&1 | tee "$out/bench.log"
