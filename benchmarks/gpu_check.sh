#!/usr/bin/env bash
# The GPU path checked and measured in one `device` command (issue 29).
#
# Here, before the call (no device time): stage a compact copy of the
# datasets in a folder git ignores, then carry it:
#
#   echo /.stage/ >> .git/info/exclude
#   python benchmarks/stage_data.py .stage/datasets      # about 14 MiB
#
# The call (device tool's run), with carry [".stage"] and timeout_s 560:
#
#   bash benchmarks/gpu_check.sh
#
# It runs the CUDA tests (tests/test_cuda.py, tests/test_graphs.py) on the
# staged data, then benchmarks/gpu_probe.py without t-SNE, and leaves the
# logs and the probe's JSON in $OUT. PROBE_BUDGET (seconds, default 200)
# and PROBE_ARGS pass more to the probe.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 LAB_PROGRESS=0 PYTHONPATH=$PWD
export LAB_DATA_DIR=$PWD/.stage/datasets
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm \
    --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/gpu.txt"
start=$SECONDS
timeout 170 python3 -m pytest -o addopts="" -p no:cacheprovider -q \
    -p no:randomly --durations=10 tests/test_cuda.py tests/test_graphs.py \
    2>&1 | tee "$OUT/test_cuda.log" | tail -40
echo "tests: $((SECONDS - start)) s"
start=$SECONDS
timeout $(( ${PROBE_BUDGET:-200} + 90 )) python3 benchmarks/gpu_probe.py \
    --out "$OUT/gpu_probe.json" --no-tsne --no-compile \
    --budget "${PROBE_BUDGET:-200}" --seconds 1.5 --fit-seconds 1.0 \
    ${PROBE_ARGS:-} > "$OUT/probe.log" 2>&1
echo "probe: exit $? after $((SECONDS - start)) s"
grep -v '^{' "$OUT/probe.log" | tail -30
grep '"error"' "$OUT/probe.log" | cut -c1-300 | head -20
