#!/usr/bin/env bash
# Lab 2's wide net trained with the report's own baseline recipe at full
# size on a GPU (issue 29): benchmarks/full_headlines.py's
# wide_report_recipe, for seeds 0, 1 and 2 while time allows.
#
# The GPU machine cannot see ../shared, and 60,000 small JPEGs count as
# far more than their 57 MB against a call's 64 MiB; gzipped tars of them
# are 20 MB in all (their JPEG headers repeat). Here, first:
#
#   printf '/.stage_train/\n/.stage_test/\n/.stage_data/\n' \
#       >> .git/info/exclude
#   mkdir -p .stage_train .stage_test
#   (cd ../shared/datasets &&
#    tar czf "$OLDPWD/.stage_train/cifar10_train.tar.gz" cifar10/train &&
#    tar czf "$OLDPWD/.stage_test/cifar10_test.tar.gz" cifar10/test)
#
# then one call: carry [".stage_train", ".stage_test"], command
# "bash benchmarks/gpu_report_recipe.sh", timeout_s 330. Results:
# $OUT/full_headlines_gpu.json and $OUT/report_recipe.log.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 LAB_PROGRESS=0 PYTHONPATH=$PWD
data=$PWD/.stage_data
mkdir -p "$data"
for f in .stage_train/*.tar.gz .stage_test/*.tar.gz; do
    tar xzf "$f" -C "$data"
done
export LAB_DATA_DIR=$data
OUT=${OUT:-/tmp/report_recipe}
mkdir -p "$OUT"
echo "images: $(find "$data/cifar10" -name '*.jpg' | wc -l)"
start=$SECONDS
for seed in 0 1 2; do
    if (( SECONDS - start > ${START_BEFORE:-170} )); then
        echo "seed $seed not started: $((SECONDS - start)) s gone"
        break
    fi
    timeout "${PER_SEED:-150}" python3 benchmarks/full_headlines.py \
        --only wide_report_recipe --seed "$seed" \
        --results-dir /tmp/full-headlines \
        --output "$OUT/full_headlines_gpu.json" 2>&1 \
        | grep --line-buffered -v Warning | tee -a "$OUT/report_recipe.log" | tail -5
    echo "seed $seed: $((SECONDS - start)) s"
done
cat "$OUT/full_headlines_gpu.json"
