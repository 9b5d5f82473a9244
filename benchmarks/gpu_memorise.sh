#!/bin/bash
# The memorise protocol (benchmarks/train_cifar.py --profile memorise) on a lent GPU machine.
#
# The data and environment: benchmarks/_gpu_env.sh (sourced). The script builds CIFAR-10
# into /tmp, runs the pending runs in parallel workers and stores the rows in $OUT
# (the folder that comes back), e.g.
#
#   bash benchmarks/gpu_memorise.sh --seeds 0,1,2 --workers 10 --stop-after 430 --kill-after 455
#
# For a second call, copy the committed store into $OUT first (it is emptied per call):
#   cp benchmarks/results/raw/train_cifar/memorise.jsonl $OUT/ && bash benchmarks/gpu_memorise.sh ...
# then copy $OUT/memorise.jsonl back to benchmarks/results/raw/train_cifar/ here and run
# `python benchmarks/train_cifar.py --profile memorise --render-only`.
# Seen on an H200 (2026-12-04): 10 workers, 1.17 s per epoch each, 20 runs per 6.5-min call.
set -u
source "$(dirname "$0")/_gpu_env.sh"
python3 benchmarks/train_cifar.py --profile memorise --data-root "$D" --work-dir "$W" \
  --store-dir "$OUT" --markdown /tmp/training.md --threads 1 "$@" 2>&1 | tee "$OUT/log.txt"
