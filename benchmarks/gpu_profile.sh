#!/bin/bash
# The `gpu` profile of benchmarks/train_cifar.py on a lent GPU machine (the training issue's
# section 7: full CIFAR-10, the airbench-style net; goals CIFAR-10N worst >= 92.6% and
# symmetric 50% >= 94.6%, each within 10 minutes). The data and environment:
# benchmarks/_gpu_env.sh (sourced).
#
# The runs go one after another, each alone on the device so that its wall time is its own,
# in the order of RUNS (method:setting, the first the most wanted), until BUDGET seconds
# from the start have passed: a run is started only with at least MIN_LEFT seconds left and
# is stopped at the budget (an unfinished run leaves no row). Rows land in $OUT/gpu.jsonl
# (the folder that comes back); copy it to benchmarks/results/raw/train_cifar/ here and run
# `python benchmarks/train_cifar.py --profile gpu --render-only`. Checked on a CPU with
#   RUNS=standard:worst BUDGET=120 bash benchmarks/gpu_profile.sh --smoke 1
set -u
T0=$(date +%s)
source "$(dirname "$0")/_gpu_env.sh"
RUNS=${RUNS:-standard:worst standard:sym50 dividemix:worst dividemix:sym50 elr:worst elr:sym50}
BUDGET=${BUDGET:-540}
MIN_LEFT=${MIN_LEFT:-60}
for run in $RUNS; do
  left=$(( BUDGET - ($(date +%s) - T0) ))
  if [ "$left" -lt "$MIN_LEFT" ]; then
    echo "not started (${left} s left): $run" | tee -a "$OUT/log.txt"
    continue
  fi
  echo "=== $run ($left s left)" | tee -a "$OUT/log.txt"
  timeout "$left" python3 benchmarks/train_cifar.py --profile gpu --methods "${run%%:*}" \
    --settings "${run##*:}" --data-root "$D" --store-dir "$OUT" --markdown /tmp/training.md \
    --threads 4 "$@" 2>&1 | tee -a "$OUT/log.txt"
done
