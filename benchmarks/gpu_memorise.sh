#!/bin/bash
# The memorise protocol (benchmarks/train_cifar.py --profile memorise) on a lent GPU machine.
#
# That machine reaches no network and sees only the repository, so carry the data beside it
# in an ignored folder (DATA_SRC, default .devdata/): cifar-10-jpeg.tar.gz, make_cifar10.py and
# official_order.npz from ../shared/data/cifar-10-jpeg, CIFAR-10_human.pt and
# side_info_cifar10N.csv from ../shared/data/cifar-10n (22 MB). The script builds CIFAR-10
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
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src:$PWD/benchmarks
SRC=${DATA_SRC:-.devdata}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
D=${DATA:-/tmp/lndata}
W=${WORK:-/tmp/lnwork}
(nvidia-smi -L; python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())") 2>&1 | tee "$OUT/env.txt"
if [ ! -d "$D/cifar-10-batches-py" ]; then
  python3 "$SRC/make_cifar10.py" "$D" || exit 1
fi
mkdir -p "$D/cifar-10n" && cp "$SRC/CIFAR-10_human.pt" "$SRC/side_info_cifar10N.csv" "$D/cifar-10n/" || exit 1
(command -v nvidia-smi >/dev/null && nvidia-smi dmon -s um -d 20 > "$OUT/dmon.txt" 2>&1 &)
python3 benchmarks/train_cifar.py --profile memorise --data-root "$D" --work-dir "$W" \
  --store-dir "$OUT" --markdown /tmp/training.md --threads 1 "$@" 2>&1 | tee "$OUT/log.txt"
