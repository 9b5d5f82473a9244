# Sourced by the device scripts (gpu_memorise.sh, gpu_profile.sh): the environment, the
# device line in $OUT/env.txt, CIFAR-10 built into $D from the carried JPEG copy, the
# CIFAR-10N files beside it, and nvidia-smi dmon logging into $OUT/dmon.txt.
#
# That machine reaches no network and sees only the repository, so the data travels beside
# it in an ignored folder (DATA_SRC, default .devdata/): cifar-10-jpeg.tar.gz, make_cifar10.py
# and official_order.npz from ../shared/data/cifar-10-jpeg, CIFAR-10_human.pt and
# side_info_cifar10N.csv from ../shared/data/cifar-10n (22 MB).
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
