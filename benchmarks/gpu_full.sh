#!/usr/bin/env bash
# All six lab notebooks in the `full` profile on a lent GPU (issue 29):
# benchmarks/gpu_full.py, which writes benchmarks/results/full_<gpu>.json
# (each lab's minutes, the total, every run's test metrics).
#
# The GPU machine sees only this repository and what a call carries (64
# MiB in all, the repository's 10 included), not ../shared, and its
# image has no papermill or jupytext. Here, first (no device time):
#
#   printf '/.stage_full/\n/.whl/\n' >> .git/info/exclude
#   python benchmarks/stage_data.py .stage_full --tar-parts 45
#   python3 -m pip download --no-deps --only-binary=:all: \
#       --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       --platform manylinux2014_x86_64 --platform any -d .whl \
#       papermill nbclient nbformat jupyter_client jupyter_core ipykernel \
#       jupytext fastjsonschema jsonschema jsonschema-specifications \
#       referencing rpds-py traitlets tornado pyzmq comm debugpy ipython \
#       matplotlib-inline nest-asyncio tenacity ansicolors platformdirs \
#       mdit-py-plugins markdown-it-py mdurl decorator jedi parso pexpect \
#       ptyprocess prompt_toolkit wcwidth stack_data executing asttokens \
#       pure_eval ipython_pygments_lexers entrypoints
#
# Then one call per part, back to back (the machine stays warm for 30 s
# after a call, and a cold start costs a minute or more): for each part
# but the last, carry [".stage_full/partN"] and run
# "bash benchmarks/gpu_full.sh --stage"; for the last, carry
# [".stage_full/partN", ".whl"] and run "bash benchmarks/gpu_full.sh",
# timeout_s 600. Each call unpacks its part into $STAGE (outside the
# working tree, which each call lays anew); the last one checks that all
# four datasets are there, naming any that is missing, and then runs.
# GPU_FULL_ARGS passes more to gpu_full.py (default: --parallel 3).
set -uo pipefail
cd "$(dirname "$0")/.."
STAGE=${STAGE:-/tmp/lab-data}
mkdir -p "$STAGE"
for part in .stage_full/part*/data.tar.gz; do
    [ -f "$part" ] && tar xzf "$part" -C "$STAGE" && echo "unpacked $part"
done
du -sh "$STAGE"
[ "${1:-}" = "--stage" ] && exit 0

missing=""
[ -f "$STAGE/MNIST/raw/t10k-labels-idx1-ubyte" ] || missing+=" MNIST"
[ -f "$STAGE/FashionMNIST/raw/t10k-labels-idx1-ubyte" ] \
    || missing+=" FashionMNIST"
[ "$(find "$STAGE/cifar10" -name '*.jpg' 2>/dev/null | wc -l)" = 60000 ] \
    || missing+=" cifar10"
[ "$(find "$STAGE/lfw" -name '*.jpg' 2>/dev/null | wc -l)" = 13233 ] \
    || missing+=" lfw"
if [ -n "$missing" ]; then
    echo "not staged (all or part):$missing; carry its parts again" >&2
    exit 2
fi
if ! python3 -c "import papermill, jupytext" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 2
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export LAB_DATA_DIR=$STAGE LAB_PROGRESS=0 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_full}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 benchmarks/gpu_full.py --profile full \
    --output "$OUT/runs" ${GPU_FULL_ARGS:---parallel 3} \
    --out "$OUT/full_gpu.json"
status=$?
# The executed notebooks are too many files to bring back: keep them in
# one archive beside the JSON.
tar czf "$OUT/notebooks.tar.gz" -C "$OUT" runs && rm -rf "$OUT/runs"
exit $status
