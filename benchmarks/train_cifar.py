"""Benchmark: robust training methods on noisy CIFAR-10 (synthetic noise and CIFAR-10N).

Runs every (method, noise setting) pair of the chosen profile, stores each run's result as
one JSON line in ``--store-dir/<profile>.jsonl`` (default ``benchmarks/results/raw/train_cifar``,
committed so that another machine can re-render the tables; runs already there are skipped, so the
benchmark can be run in several short invocations), and renders the markdown table with
the published anchors beside to ``--markdown``.

Profiles:

* ``cpu-small`` (what this 2-core CPU can do): ResNet-8, a seeded 4,000-image training
  subset (noise applied to all 50,000 labels first), a seeded 2,000-image test subset,
  8 epochs, schedules shortened accordingly. NOT comparable with the published numbers.
* ``cpu-30min``: the best a 30-minute CPU run reaches on CIFAR-10N worst: ELR (or CE) with
  ResNet-20 on all 50,000 images for 20 epochs (``--methods elr --settings worst``).
* ``gpu`` (to be run on one GPU; rows still open): airbench-style net on all 50,000
  labels and the full test set; see PROFILES for the schedule of each method.
* ``memorise`` (the protocol where CE memorises the noisy labels, so that robust methods
  can pay): settings sym50, sym80, asym40, worst, aggre on a fixed class-balanced subset of
  CIFAR-10 train and a fixed class-balanced 2,000-image test subset; a small network trained
  long with a step schedule (no anneal to zero); per-epoch memorisation diagnostic (the
  engine's ``true_labels`` -> ``memorised``, ``train_acc_given``); every run checkpointed
  each epoch and resumed, finished runs cached in ``memorise.jsonl``; mean ± std over
  ``--seeds``; the CE curves go to ``results/memorise_curves.png``. Valid only where CE
  memorises (training accuracy on the given labels > 90%; best-to-last test drop >= 10
  points at sym80 and worse, >= 5 at sym50). ``--pilot TAGS`` runs the CE pilots of
  MEMORISE_PILOT (cached in ``memorise-pilot.jsonl``; interrupted ones resume).

  Chosen configuration (PROVISIONAL; see MEMORISE and its ``budget`` text): ResNet-20,
  4,000 training images, 150 epochs, SGD lr 0.1, weight decay 5e-4, x0.1 at epochs 75 and
  112. Pilot (CE, seed 0): ResNet-8 on 3,000 images (sym80, 120 epochs, step at 60/90)
  does not memorise: training accuracy on the noisy labels 48.4%, memorised 44.0%, test
  best 27.8% (epoch 41), last 21.75%, 2.8-3.1 s/epoch. ResNet-20 on 2,000 images (sym80,
  step at 50/75) was interrupted at epoch 50 by CPU contention (6.5 s/epoch at best):
  training accuracy 38.3% and rising, test best 23.3% (epoch 29), 17.75% at epoch 50; with a
  peak that low a 10-point drop at sym80 is out of reach, hence 4,000 images. Budget: 8.5 s
  per epoch x 150 = 21 min per CE run; the whole table (CE and the best method x 3 seeds,
  the others x 1) is 105-175 CE-runs = 37-62 h on this CPU, not 6 h (arithmetic in
  MEMORISE["budget"] and RESULTS.md).

Usage (run heavy work under the shared lock):

    flock /tmp/labelnoise-heavy.lock python benchmarks/train_cifar.py --profile cpu-small \
        --methods standard,elr --settings sym20,worst
    python benchmarks/train_cifar.py --profile cpu-small --render-only
    flock /tmp/labelnoise-heavy.lock nice -n 5 python benchmarks/train_cifar.py \
        --profile memorise --pilot r20-n4000-wd5e-4-sym80-e150 --data-root DIR
    flock /tmp/labelnoise-heavy.lock nice -n 5 python benchmarks/train_cifar.py \
        --profile memorise --methods standard --seeds 0,1,2 --data-root DIR
    # on a GPU: ten runs at a time, each its own process; stop starting runs after 430 s and
    # stop the workers at 455 s (unfinished runs resume from their checkpoints next time)
    python benchmarks/train_cifar.py --profile memorise --seeds 0,1,2 --data-root DIR \
        --workers 10 --threads 1 --stop-after 430 --kill-after 455
    # the cost column, on a quiet machine (every method, a few epochs, one after another)
    flock /tmp/labelnoise-heavy.lock python benchmarks/train_cifar.py --profile memorise \
        --cost --data-root DIR
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tables  # noqa: E402
from _tables import (  # noqa: E402
    append_row,
    epoch_seconds,
    shrinks,
    store_dir,
    write_rows,
    write_table,
)

from labelnoise import _io, training  # noqa: E402
from labelnoise.cli.train import load_data  # noqa: E402
from labelnoise.training import engine  # noqa: E402

#: Finished runs (JSON lines per profile), committed beside the rendered tables.
RAW = store_dir("train_cifar")

SETTINGS = {  # name -> (noise spec or None, CIFAR-10N label set or None)
    "sym20": ("symmetric:0.2", None),
    "sym50": ("symmetric:0.5", None),
    "sym80": ("symmetric:0.8", None),
    "asym40": ("asymmetric:0.4", None),
    "aggre": (None, "aggre"),
    "random1": (None, "random1"),
    "worst": (None, "worse"),
}
#: every method of the registry that learns from one noisy label per example
METHODS = tuple(name for name, entry in training.METHODS.items() if not entry.candidates)
#: method names of rows cached before the registry named them -> registry names
RENAMED = {"elr+": "elr-plus"}

# Published anchors: (best-epoch test accuracy %, source). CIFAR-N leaderboard (Wei et al.
# 2022, ICLR, Table 2): ResNet-34, all 50,000 noisy labels, best test accuracy over
# training, no clean validation. DivideMix paper (Li et al. 2020, Table 1): PreAct
# ResNet-18, 300 epochs, best (last) epoch.
CIFARN = "CIFAR-N paper, ResNet-34, best epoch"
DMIX = "DivideMix paper, PreAct ResNet-18, 300 ep, best epoch (last)"
ANCHORS = {
    ("standard", "aggre"): ("87.77", CIFARN), ("standard", "random1"): ("85.02", CIFARN),
    ("standard", "worst"): ("77.69", CIFARN),
    ("coteaching", "aggre"): ("91.20", CIFARN), ("coteaching", "random1"): ("90.33", CIFARN),
    ("coteaching", "worst"): ("83.83", CIFARN),
    ("elr-plus", "aggre"): ("94.83", CIFARN), ("elr-plus", "random1"): ("94.43", CIFARN),
    ("elr-plus", "worst"): ("91.09", CIFARN),
    ("dividemix", "aggre"): ("95.01", CIFARN), ("dividemix", "random1"): ("95.16", CIFARN),
    ("dividemix", "worst"): ("92.56", CIFARN),
    ("dividemix", "sym20"): ("96.1 (95.7)", DMIX), ("dividemix", "sym50"): ("94.6 (94.4)", DMIX),
    ("dividemix", "sym80"): ("93.2 (92.9)", DMIX), ("dividemix", "asym40"): ("93.4 (92.1)", DMIX),
}
OTHER_ANCHORS = ("Other CIFAR-10N worst anchors (CIFAR-N leaderboard): PES 92.68, "
                 "ProMix 96.16 (420 epochs). RDCR (Tsai, Li & Zhu 2019, arXiv 1905.13305): "
                 "its reported accuracies could not be retrieved here (only the abstract and "
                 "introduction are reachable without internet, and no official code was "
                 "found); the paper claims comparable results at low noise and its largest "
                 "margin over other methods at high noise, so its rows have no anchor.")

PROFILES = {
    "cpu-small": dict(
        protocol="CPU reduced: ResNet-8, 4k-image train subset, 2k-image test subset, "
                 "8 epochs, seed 0",
        model="resnet8", subset=4000, test_subset=2000,
        methods={
            "standard": dict(epochs=8, batch_size=128, lr=0.1, weight_decay=5e-4,
                             schedule="onecycle"),
            "coteaching": dict(epochs=8, batch_size=128, lr=0.1, optimizer="sgd",
                               weight_decay=5e-4, schedule="onecycle", num_gradual=2),
            "elr": dict(epochs=8, batch_size=128, lr=0.1, weight_decay=1e-3,
                        schedule="onecycle", lam=3.0, beta=0.7),
            "elr-plus": dict(epochs=8, batch_size=128, lr=0.05, weight_decay=5e-4,
                         lr_decay_epoch=6, lam=3.0, beta=0.7, ema_rampup_steps=125),
            "dividemix": dict(epochs=8, warmup_epochs=2, batch_size=128, lr=0.05,
                              lr_decay_epoch=6),
            "rdcr": dict(epochs=8, batch_size=128, lr=0.1, weight_decay=5e-4,
                         schedule="onecycle", rampup_epochs=3.0),
            # ILL (official CIFAR-10 config): SGD lr 0.02, weight decay 1e-3, cosine
            "ill": dict(epochs=8, batch_size=128, lr=0.02, weight_decay=1e-3,
                        schedule="cosine"),
            # CPC: DivideMix's schedule (it is a cleaner inside DivideMix's training)
            "cpc": dict(epochs=8, warmup_epochs=2, batch_size=128, lr=0.05,
                        lr_decay_epoch=6),
            # mixup: CE's settings on mixed batches (the library's alpha)
            "mixup": dict(epochs=8, batch_size=128, lr=0.1, weight_decay=5e-4,
                          schedule="onecycle"),
            # forward correction: CE's settings, the noise matrix estimated after 2 epochs
            "forward": dict(epochs=8, batch_size=128, lr=0.1, weight_decay=5e-4,
                            schedule="onecycle", warmup_epochs=2),
            # truncated GCE: CE's settings, pruning from epoch 3 every epoch (40 / 10 of 120)
            "truncated-gce": dict(epochs=8, batch_size=128, lr=0.1, weight_decay=5e-4,
                                  schedule="onecycle", prune_start=3, prune_every=1),
        },
    ),
    "cpu-long": dict(
        protocol="CPU longer: ResNet-8, 10k-image train subset, 2k-image test subset, "
                 "40 epochs, seed 0 (to look for the memorisation phase at high noise)",
        model="resnet8", subset=10000, test_subset=2000,
        methods={
            "standard": dict(epochs=40, batch_size=128, lr=0.1, weight_decay=5e-4,
                             schedule="onecycle"),
            "rdcr": dict(epochs=40, batch_size=128, lr=0.1, weight_decay=5e-4,
                         schedule="onecycle", rampup_epochs=10.0),
        },
    ),
    "cpu-30min": dict(
        protocol="CPU 30-minute budget: ResNet-20, all 50k noisy labels, full 10k test set, "
                 "20 epochs (about 81 s each on 2 free cores), seed 0",
        model="resnet20", subset=None, test_subset=None,
        methods={
            "standard": dict(epochs=20, batch_size=256, lr=0.1, weight_decay=5e-4,
                             schedule="onecycle"),
            "elr": dict(epochs=20, batch_size=256, lr=0.1, weight_decay=1e-3,
                        schedule="onecycle", lam=3.0, beta=0.7),
        },
    ),
    "gpu": dict(
        protocol="GPU: airbench-style net, all 50k noisy labels, full 10k test set, seed 0",
        model="airbench", subset=None, test_subset=None,
        methods={
            "standard": dict(epochs=40, batch_size=512, lr=0.2, weight_decay=5e-4,
                             schedule="onecycle"),
            "coteaching": dict(epochs=60, batch_size=512, lr=0.2, optimizer="sgd",
                               weight_decay=5e-4, schedule="onecycle", num_gradual=5),
            "elr": dict(epochs=60, batch_size=512, lr=0.2, weight_decay=1e-3,
                        schedule="onecycle", lam=3.0, beta=0.7),
            "elr-plus": dict(epochs=60, batch_size=512, lr=0.1, weight_decay=5e-4,
                         lr_decay_epoch=45, lam=3.0, beta=0.7, ema_rampup_steps=3000),
            "dividemix": dict(epochs=60, warmup_epochs=5, batch_size=256, lr=0.05,
                              lr_decay_epoch=45),
            "rdcr": dict(epochs=60, batch_size=512, lr=0.2, weight_decay=5e-4,
                         schedule="onecycle", rampup_epochs=10.0),
        },
    ),
}


# ------------------------------------------------------------------ profile `memorise`
#: the settings of the memorisation protocol
MEMORISE_SETTINGS = ("sym50", "sym80", "asym40", "worst", "aggre")
#: validity thresholds of the protocol: CE's last-epoch training accuracy on the given
#: (noisy) labels, and CE's drop from its best to its last clean test accuracy
MEMORISE_MIN_TRAIN_ACC = 0.90
MEMORISE_MIN_DROP = {"sym50": 0.05, "sym80": 0.10, "worst": 0.10}

_E = 150  # epochs of the protocol; the step schedule decays x0.1 at 50% and 75% of them
MEMORISE = dict(
    protocol="ResNet-20 (0.27 M parameters), a fixed class-balanced subset of 4,000 CIFAR-10 "
             "training images (400 per class, seed 0), the fixed class-balanced 2,000-image "
             "test subset (seed 0), crop + flip, 150 epochs; CE: batch 128, SGD (Nesterov 0.9) "
             "lr 0.1, weight decay 5e-4, step schedule x0.1 at epochs 75 and 112 (no anneal to "
             "zero); GCE, LDR-KL, NCE+RCE, forward correction, mixup and elr-ce (ELR) in CE's loop "
             "and schedule (only the loss or the mixing differs); every other method its "
             "paper's optimiser and schedule (listed under the table), except that DivideMix and "
             "CPC warm up with CE for forward correction's 30 epochs; noise drawn once over "
             "all 50,000 labels (seed 0), training seeds 0, 1, 2 "
             "(chosen from a CPU pilot of CE, seed 0, in the table of commit 8d8ef22: at "
             "n = 4,000 CE memorised at sym50 and sym80, its drop valid at sym50 and 0.3 points "
             "short of the rule at sym80)",
    model="resnet20", n_train=4000, n_test=2000, seeds=(0, 1, 2),
    methods={
        "standard": dict(epochs=_E, batch_size=128, lr=0.1, weight_decay=5e-4, schedule="step"),
        # robust losses swapped into CE's loop (method "standard" with ``loss``), with CE's
        # optimiser and schedule so that only the loss differs: GCE (Zhang & Sabuncu 2018)
        # q = 0.7, its CIFAR value; LDR-KL (Zhu, Ying & Yang 2023) the registry's defaults
        # from the authors' script (lam 10, margin 0.1, softplus-normalised scores)
        "gce": dict(method="standard", loss="gce", epochs=_E, batch_size=128, lr=0.1,
                    weight_decay=5e-4, schedule="step"),
        "ldr-kl": dict(method="standard", loss="ldr-kl", epochs=_E, batch_size=128, lr=0.1,
                       weight_decay=5e-4, schedule="step"),
        # ALDR-KL, the same loss with a temperature adapted per example (lam_0 10, alpha 2,
        # the authors' script's values): LDR-KL at its fixed temperature fitted only 63% of
        # the given labels at asym40 (seed 0, 47.75% last against CE's 60.72)
        "aldr-kl": dict(method="standard", loss="aldr-kl", epochs=_E, batch_size=128, lr=0.1,
                        weight_decay=5e-4, schedule="step"),
        # NCE+RCE, the Active Passive Loss (Ma et al. 2020, eq. 7): alpha = beta = 1, the
        # paper's CIFAR-10 values (the registry's defaults), in CE's loop as GCE
        "nce+rce": dict(method="standard", loss="nce+rce", epochs=_E, batch_size=128, lr=0.1,
                        weight_decay=5e-4, schedule="step"),
        # truncated GCE (the GCE paper's truncated Lq loss, section 3.3: q 0.7, k 0.5), in
        # CE's loop as GCE; its pruning from epoch 40 of 120 every 10 epochs, scaled to 150
        "truncated-gce": dict(epochs=_E, batch_size=128, lr=0.1, weight_decay=5e-4,
                              schedule="step", prune_start=round(_E / 3),
                              prune_every=round(_E / 12)),
        # forward correction (Patrini et al. 2017) in CE's loop and schedule (only the loss
        # differs, as for GCE): 30 epochs of CE (a fifth of the run, inside the first
        # lr-0.1 phase, before CE memorises), then the noise matrix from confident learning
        # on the in-sample predictions of the last 5 of them, then the corrected loss
        "forward": dict(epochs=_E, batch_size=128, lr=0.1, weight_decay=5e-4, schedule="step",
                        warmup_epochs=30),
        # Co-teaching (Han et al. 2018): Adam 1e-3, T_k = 10 of 200 epochs, linear decay of
        # the learning rate from epoch 80 of 200 (its own schedule); forget rate = noise rate
        "coteaching": dict(epochs=_E, batch_size=128, optimizer="adam", lr=1e-3,
                           num_gradual=8, decay_start=0.4 * _E),
        # ELR (Liu et al. 2020; official ELR/config_cifar10.json): SGD lr 0.02, weight decay
        # 1e-3, cosine annealing with warm restarts every 10 epochs to lr 0.001, 150 epochs (its
        # own schedule, as for the other methods); lambda, beta from the noise kind (registry:
        # 3 / 0.7 symmetric, 1 / 0.9 asymmetric)
        "elr": dict(epochs=_E, batch_size=128, lr=0.02, weight_decay=1e-3,
                    schedule="cosine-restarts"),
        # mixup (Zhang et al. 2018) in CE's loop and schedule: the official CIFAR-10 code's
        # own schedule has the same shape (SGD lr 0.1, x0.1 at 50% and 75% of the epochs);
        # alpha 32, the library default, chosen on the features track's digits (the rule in
        # labelnoise.training.mixup), not here
        "mixup": dict(epochs=_E, batch_size=128, lr=0.1, weight_decay=5e-4, schedule="step",
                      alpha=32.0),
        # ELR in CE's loop and schedule (only the loss differs, as for GCE and forward): the
        # paper's schedule scaled by epochs starves it here (at asym40 its x0.01 step at epoch
        # 50 comes after 1,600 optimizer steps, against 15,600 in the paper, and its training
        # accuracy on the given labels stops at 78%); lambda, beta from the noise kind as above
        "elr-ce": dict(method="elr", epochs=_E, batch_size=128, lr=0.1, weight_decay=5e-4,
                       schedule="step"),
        # ELR+: lr 0.02, x0.1 at 75%, EMA ramp-up over half of the steps (40,000 of 200 x 391),
        # lam 3, beta 0.7 (official CIFAR-10 symmetric-noise values; asym40: per_setting)
        "elr-plus": dict(epochs=_E, batch_size=128, lr=0.02, weight_decay=5e-4,
                         lr_decay_epoch=0.75 * _E, lam=3.0, beta=0.7,
                         ema_rampup_steps=_E * 32 // 2),
        # DivideMix (Li et al. 2020): batch 64, lr 0.02 x0.1 at 50%; lambda_u and the
        # confidence penalty from the noise (registry). Warm-up: the protocol's one CE warm-up
        # length, forward correction's 30 epochs, not the paper's 10 of 300 scaled to 5: a
        # CPU pilot (sym80, seed 0, 2026-12-04) with 5 warm-up epochs (160 steps; test acc
        # 18.6%) split uninformatively: the labeled set's precision 0.28-0.35 against a clean
        # fraction of 0.28, and its share grew to 97% by epoch 12 (stopped there)
        "dividemix": dict(epochs=_E, warmup_epochs=30, batch_size=64, lr=0.02,
                          lr_decay_epoch=0.5 * _E),
        # DivideMix with its labeled set by rank at the noise rate (our option forget_rate,
        # as Co-teaching's forget rate = the noise rate): an unfinished DivideMix sym80 run
        # with this warm-up (stopped at epoch 51, not in the table; the stop-42 note) labeled
        # most examples at about the clean fraction's precision; on the features track (training_features.md) the rank
        # division gains at sym80 / asym40 on digits
        "dividemix-rank": dict(method="dividemix", epochs=_E, warmup_epochs=30, batch_size=64,
                               lr=0.02, lr_decay_epoch=0.5 * _E, forget_rate="noise_rate"),
        # the same division at the noise rate DivideMix estimates itself (forget_rate=
        # "estimate": 2-fold out-of-sample confident learning with the warm-up's settings,
        # before the warm-up), as a user without the noise rate runs it
        "dividemix-est": dict(method="dividemix", epochs=_E, warmup_epochs=30, batch_size=64,
                              lr=0.02, lr_decay_epoch=0.5 * _E, forget_rate="estimate"),
        # CPC (class prototype-based cleaner): a cleaner inside DivideMix's training, so
        # DivideMix's schedule above; its prototype terms at the library defaults
        "cpc": dict(epochs=_E, warmup_epochs=30, batch_size=64, lr=0.02,
                    lr_decay_epoch=0.5 * _E),
        # RDCR: its schedule takes no milestones; cosine over the whole run (not one-cycle)
        "rdcr": dict(epochs=_E, batch_size=128, lr=0.1, weight_decay=5e-4, schedule="cosine",
                     rampup_epochs=25.0),
        # ILL (Chen et al. 2024; official CIFAR-10 config): SGD lr 0.02, weight decay 1e-3,
        # cosine over the whole run (its own schedule), noise_scale 1
        # (strong view: crop + flip + RandAugment + random erasing, the stand-in for the
        # official AutoAugment + RandomErasing)
        "ill": dict(epochs=_E, batch_size=128, lr=0.02, weight_decay=1e-3, schedule="cosine",
                    strong_augment="randaugment"),
    },
    # a method's paper settings that differ by noise kind and replace the method's own
    # above (its schedule): (method, setting) -> kwargs. ELR's asymmetric-noise configuration
    # (official ELR/config_cifar10_asym.json) steps the learning rate down x0.01 at epochs 40
    # and 80 of 120 instead of cosine with warm restarts; from the registry, at 1/3 and 2/3
    # of the protocol's epochs
    per_setting={
        ("elr", "asym40"): {k: v for k, v in training.METHODS["elr"].settings_for(
            0.4, True, epochs=_E).items() if k in ("schedule", "milestones", "gamma")},
        # ELR+'s asymmetric-noise weights (official ELR_plus/config_cifar10_asym.json: lam 1,
        # beta 0.9 against 3, 0.7), which replace the row's symmetric-noise values above
        ("elr-plus", "asym40"): training.METHODS["elr-plus"].settings_for(0.4, True),
    },
    budget=(
        "Budget arithmetic (free 2-core CPU; s/epoch from CPU.md throughput, which the pilot's "
        "uncontended epochs confirm: ResNet-8 on 3,000 images predicted 2.8 s, measured 2.8 s "
        "min / 3.06 s median; ResNet-20 on 2,000 predicted 5.4 s, measured 6.5 s min under "
        "contention). Chosen configuration, ResNet-20 on 4,000 images: 4,000 / 663 img/s "
        "(training) + 2,000 / 1,651 (test) + 2,000 / 1,651 (diagnostic) = 8.5 s per epoch, "
        "x 150 epochs = 21 min per CE run. Method cost relative to CE (wall time per run in "
        "the cpu-small table): Co-teaching 2.0, ELR 1.0, ELR+ 2.6, DivideMix 8.0, RDCR 2.3. "
        "Table: CE 3 seeds x 5 settings = 15 runs = 5.3 h; one seed of every other method "
        "= 5 x (2.0 + 1.0 + 2.6 + 8.0 + 2.3) = 79.5 CE-runs = 28 h; two more seeds of the "
        "best method per setting = 10 (ELR) to 80 (DivideMix) CE-runs = 3.5 to 28 h. Total "
        "37 to 62 h, **not the 6 h the issue allows**. 6 h buys about 17 CE-runs at this "
        "configuration (e.g. CE x 3 seeds on the 5 settings). A configuration cheap enough "
        "for the whole table in 6 h needs about 21,600 s / (105 CE-runs x 150 epochs) = 1.4 s "
        "per epoch: ResNet-8 on about 1,200 images, which does not memorise (ResNet-8 on "
        "3,000 images reached 48% training accuracy on sym80 labels in 120 epochs) and whose "
        "sym80 peak is too low for a 10-point drop. The image track's full table needs a GPU "
        "or a larger CPU budget (about 40-60 h), or fewer methods (CE, ELR and Co-teaching x "
        "3 seeds x 5 settings = 60 CE-runs = 21 h)."),
)

#: pilot configurations (CE only, one seed): tag -> (model, n_train, standard.fit kwargs)
_STEP = dict(epochs=120, batch_size=128, lr=0.1, schedule="step")  # x0.1 at epochs 60, 90
MEMORISE_PILOT = {
    "r8-n3000-wd5e-4-sym80": ("resnet8", 3000, "sym80", dict(_STEP, weight_decay=5e-4)),
    "r20-n3000-wd5e-4-sym80": ("resnet20", 3000, "sym80", dict(_STEP, weight_decay=5e-4)),
    "r8-n3000-wd0-sym80": ("resnet8", 3000, "sym80", dict(_STEP, weight_decay=0.0)),
    "r8-n3000-wd5e-4-sym50": ("resnet8", 3000, "sym50", dict(_STEP, weight_decay=5e-4)),
    "r20-n3000-wd5e-4-sym50": ("resnet20", 3000, "sym50", dict(_STEP, weight_decay=5e-4)),
    "r8-n3000-wd0-sym50": ("resnet8", 3000, "sym50", dict(_STEP, weight_decay=0.0)),
    "r20-n2000-wd5e-4-sym80-e100": ("resnet20", 2000, "sym80",
                                    dict(_STEP, epochs=100, weight_decay=5e-4)),
    "r20-n2000-wd5e-4-sym50-e100": ("resnet20", 2000, "sym50",
                                    dict(_STEP, epochs=100, weight_decay=5e-4)),
    "r8-n2000-wd0-sym80-e100": ("resnet8", 2000, "sym80", dict(_STEP, epochs=100,
                                                                weight_decay=0.0)),
    # the next pilot, to confirm the chosen configuration (21 min each on a free CPU)
    "r20-n4000-wd5e-4-sym80-e150": ("resnet20", 4000, "sym80", dict(_STEP, epochs=150,
                                                                    weight_decay=5e-4)),
    "r20-n4000-wd5e-4-sym50-e150": ("resnet20", 4000, "sym50", dict(_STEP, epochs=150,
                                                                    weight_decay=5e-4)),
}


def balanced_subset(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n // K`` examples of every class of ``labels`` (the clean labels),
    drawn with ``default_rng(seed)``: the same images for every setting, method and seed."""
    labels = np.asarray(labels)
    k = int(labels.max()) + 1
    rng = np.random.default_rng(seed)
    idx = [rng.choice(np.flatnonzero(labels == c), size=n // k, replace=False) for c in range(k)]
    return np.sort(np.concatenate(idx))


#: the protocol's method names in table order: CE, the losses run in CE's loop, then the
#: registry's methods
PROTOCOL_NAMES = tuple(dict.fromkeys(
    ("standard", *(m for m, kw in MEMORISE["methods"].items() if "method" in kw), *METHODS)))


def device_name() -> str:
    """Where this process trains: ``"cuda (<GPU name>)"`` or ``"cpu (<n> threads)"``."""
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name()})"
    return f"cpu ({torch.get_num_threads()} threads)"


def memorise_data(setting: str, n_train: int, n_test: int, data_root=None):
    """(train images, given labels, clean labels, test images, test labels, noise rate) of the
    memorisation protocol: a fixed class-balanced subset of ``n_train`` CIFAR-10 training
    images (seed 0, chosen on the clean labels), the given labels of ``setting`` (synthetic
    noise drawn once over all 50,000 labels with seed 0, or the CIFAR-10N label set of the
    same images), and a fixed class-balanced subset of ``n_test`` test images (seed 0)."""
    return tuple(a.copy() if isinstance(a, np.ndarray) else a
                 for a in _memorise_data(setting, n_train, n_test, data_root))


@functools.lru_cache(maxsize=len(MEMORISE_SETTINGS))
def _memorise_data(setting: str, n_train: int, n_test: int, data_root=None):
    """:func:`memorise_data`, cached per process (a worker loads CIFAR-10 once)."""
    from labelnoise import datasets, noise
    from labelnoise.cli.train import parse_noise

    spec, label_set = SETTINGS[setting]
    if label_set:
        train = datasets.load_cifar10n(label_set, data_root=data_root)
        true, given = train.true_labels, train.labels
    else:
        train = datasets.load_cifar10("train", data_root=data_root)
        true = train.labels
        kind, rate = parse_noise(spec)
        given = (noise.symmetric(true, rate, num_classes=10, include_true=True, seed=0).labels
                 if kind == "symmetric" else
                 noise.asymmetric(true, rate, dataset="cifar10", seed=0).labels)
    test = datasets.load_cifar10("test", data_root=data_root)
    idx = balanced_subset(true, n_train, seed=0)
    tidx = balanced_subset(test.labels, n_test, seed=0)
    x, given, true = train.inputs[idx], given[idx], true[idx]
    return (x, given, true, test.inputs[tidx], test.labels[tidx],
            float((given != true).mean()))


def _fit_call(method: str, setting: str, kw: dict, noise_rate: float, true: np.ndarray):
    """(the registry's ``fit`` of ``method``, its keyword arguments): the profile's ``kw``
    (``"method"`` in it names the registry entry: "gce" is "standard" with loss="gce"),
    under the paper's noise-dependent settings, and the clean labels for the memorisation
    diagnostic where the method takes them."""
    kw = dict(kw)
    entry = training.METHODS[kw.pop("method", method)]
    if kw.get("forget_rate") == "noise_rate":  # the realised noise rate of the setting
        kw["forget_rate"] = noise_rate
    extra = entry.settings_for(noise_rate, setting == "asym40")
    if entry.accepts("true_labels"):
        extra["true_labels"] = true
    return entry.load(), {**extra, **kw}


#: the cost run (``--cost``): every method at sym50, seed 0, for this many epochs of its
#: protocol settings with a one-epoch warm-up (DivideMix's and forward correction's warm-up
#: epochs are plain CE; their own epochs are what costs), one after another in one process;
#: its cost is the median of the last MEMORISE_COST_TAIL epochs (all past the warm-up)
MEMORISE_COST_EPOCHS, MEMORISE_COST_TAIL = 3, 2


def memorise_cost(method: str, data_root=None, epochs: int = MEMORISE_COST_EPOCHS) -> dict:
    """Seconds per epoch of ``method`` on the protocol's data and settings (sym50, seed 0,
    no checkpoints), stopped after ``epochs`` epochs: one row of the cost column."""
    x, given, true, x_test, y_test, rate = memorise_data("sym50", MEMORISE["n_train"],
                                                         MEMORISE["n_test"], data_root)
    kw = method_kwargs(method, "sym50")
    if "warmup_epochs" in kw:
        kw = dict(kw, warmup_epochs=1)
    fit, fit_kw = _fit_call(method, "sym50", kw, rate, true)
    seen = epoch_seconds(fit, x, given, stop_after=epochs, **fit_kw, model=MEMORISE["model"],
                         seed=0, test_images=x_test, test_labels=y_test, num_classes=10,
                         progress=False)
    return dict(method=method, epochs=len(seen),
                sec_per_epoch=float(np.median(seen[-MEMORISE_COST_TAIL:])),
                device=device_name(), torch=torch.__version__,
                date=datetime.date.today().isoformat())


def memorise_run(method: str, setting: str, seed: int, model: str, n_train: int, n_test: int,
                 kw: dict, *, work_dir: Path, tag: str, data_root=None,
                 progress: bool = False) -> dict:
    """One run of the memorisation protocol with per-epoch checkpoints under
    ``work_dir/memorise-ckpt/<tag>`` (an interrupted run resumes from its last epoch); the
    result row holds the whole per-epoch history (test accuracy, memorised fraction, training
    accuracy on the given labels, seconds)."""
    x, given, true, x_test, y_test, noise_rate = memorise_data(setting, n_train, n_test,
                                                               data_root)
    given_kw = kw
    fit, fit_kw = _fit_call(method, setting, kw, noise_rate, true)
    ckpt = work_dir / "memorise-ckpt" / tag
    resume = (ckpt / engine.CHECKPOINT_NAME).exists()
    start = time.perf_counter()
    res = fit(x, given, **fit_kw, model=model, seed=seed,
              test_images=x_test, test_labels=y_test, num_classes=10,
              checkpoint_dir=ckpt, resume=resume, progress=progress)
    wall = time.perf_counter() - start
    hist = res.history
    accs = [h["test_acc"] for h in hist]
    # forward's estimated noise rate, in the record of its last warm-up epoch
    estimate = [h["estimated_noise_rate"] for h in hist if "estimated_noise_rate" in h]
    keep = ("epoch", "train_loss", "test_acc", "lr", "memorised", "corrected",
            "train_acc_given", "train_acc_clean", "seconds")
    return dict(
        method=method, setting=setting, seed=seed, tag=tag, model=model, n_train=int(n_train),
        n_test=int(n_test), noise_rate=round(noise_rate, 4), last_acc=accs[-1],
        best_acc=max(accs), best_epoch=int(np.argmax(accs)) + 1, epochs=len(accs),
        last_train_acc_given=hist[-1].get("train_acc_given"),
        last_memorised=hist[-1].get("memorised"),
        sec_per_epoch=round(float(np.median([h["seconds"] for h in hist])), 3),
        wall_seconds=round(wall, 1), resumed=resume, torch=torch.__version__,
        device=device_name(),
        hyperparameters=given_kw,
        **({"estimated_noise_rate": estimate[0]} if estimate else {}),
        history=[{k: h.get(k) for k in keep} for h in hist])


def memorise_valid(row: dict) -> tuple[bool, str]:
    """Whether a CE row passes the protocol's validity criteria, and why (text)."""
    tr = row["last_train_acc_given"] or 0.0
    drop = row["best_acc"] - row["last_acc"]
    need = MEMORISE_MIN_DROP.get(row["setting"])
    ok = tr > MEMORISE_MIN_TRAIN_ACC and (need is None or drop >= need)
    why = (f"train acc on given labels {100 * tr:.1f}% ({'>' if tr > MEMORISE_MIN_TRAIN_ACC else '<='}"
           f" 90%), drop best-last {100 * drop:.1f} pts"
           + (f" (needs >= {100 * need:.0f})" if need is not None else ""))
    return ok, why


def checkpoint_history(path: Path) -> list[dict]:
    """The per-epoch history in an engine checkpoint file (read with ``weights_only``)."""
    return engine._unpack(torch.load(path, map_location="cpu", weights_only=True))["history"]


def unfinished_pilots(work_dir: Path, done: set) -> list[dict]:
    """Rows for the pilots interrupted before their last epoch, from their checkpoints
    (``partial`` True; the run resumes from there when started again)."""
    rows = []
    for tag, (model, n_train, setting, kw) in MEMORISE_PILOT.items():
        path = work_dir / "memorise-ckpt" / f"pilot-{tag}" / engine.CHECKPOINT_NAME
        if tag in done or not path.exists():
            continue
        hist = checkpoint_history(path)
        accs = [h["test_acc"] for h in hist]
        rows.append(dict(
            method="standard", setting=setting, seed=0, tag=tag, model=model, n_train=n_train,
            n_test=2000, noise_rate=None, last_acc=accs[-1], best_acc=max(accs),
            best_epoch=int(np.argmax(accs)) + 1, epochs=len(accs),
            last_train_acc_given=hist[-1].get("train_acc_given"),
            last_memorised=hist[-1].get("memorised"),
            sec_per_epoch=round(float(np.median([h["seconds"] for h in hist])), 3),
            hyperparameters=kw, partial=True, history=hist))
    return rows


def run_memorise_pilot(work_dir: Path, tags, data_root=None, progress=False,
                       store_dir: Path | None = None) -> list[dict]:
    """Run the pilot configurations ``tags`` of :data:`MEMORISE_PILOT` (cached in
    ``store_dir/memorise-pilot.jsonl``, checkpoints under ``work_dir``, resumable); return
    every cached pilot row."""
    store = (store_dir or work_dir) / "memorise-pilot.jsonl"
    rows = load_rows(store)
    done = {r["tag"] for r in rows}
    for tag in tags:
        if tag in done:
            continue
        model, n_train, setting, kw = MEMORISE_PILOT[tag]
        row = memorise_run("standard", setting, 0, model, n_train, 2000, kw,
                           work_dir=work_dir, tag=f"pilot-{tag}", data_root=data_root,
                           progress=progress)
        row["tag"] = tag
        print(json.dumps({k: v for k, v in row.items() if k not in ("history", "hyperparameters")}),
              flush=True)
        rows.append(row)
        append_row(store, row)
    return rows


def config_digest(kw: dict) -> str:
    """8 hex digits identifying a method's hyperparameters (in its checkpoint folder's name,
    so that a run of changed hyperparameters never resumes an older run's checkpoint)."""
    import hashlib

    return hashlib.sha256(json.dumps(kw, sort_keys=True).encode()).hexdigest()[:8]


def method_kwargs(method: str, setting: str) -> dict:
    """The profile's hyperparameters of ``method`` in ``setting``: its entry in
    ``MEMORISE["methods"]`` updated by ``MEMORISE["per_setting"]``."""
    return {**MEMORISE["methods"][method], **MEMORISE["per_setting"].get((method, setting), {})}


def current_rows(rows: list[dict]) -> list[dict]:
    """The cached protocol rows run with the profile's present hyperparameters (rows of an
    older configuration are neither counted as done nor rendered)."""
    return [r for r in rows if r["method"] in MEMORISE["methods"]
            and r.get("hyperparameters") == method_kwargs(r["method"], r["setting"])]


def adoptable_pilots(pilot: list[dict], done: set) -> list[dict]:
    """The finished pilot rows that ARE protocol runs (CE, seed 0, the protocol's model,
    subset sizes and CE hyperparameters), as protocol rows, for the settings not yet in
    ``done`` ((method, setting, seed) triples): a pilot that confirmed the configuration is
    not trained a second time."""
    out = []
    for r in pilot:
        same = (r.get("method") == "standard" and r.get("seed") == 0 and not r.get("partial")
                and r.get("model") == MEMORISE["model"] and r.get("n_train") == MEMORISE["n_train"]
                and r.get("n_test") == MEMORISE["n_test"]
                and r.get("hyperparameters") == MEMORISE["methods"]["standard"])
        if same and ("standard", r["setting"], 0) not in done:
            out.append({**r, "tag": f"standard-{r['setting']}-seed0",
                        "adopted_from": f"pilot {r['tag']}"})
            done = done | {("standard", r["setting"], 0)}
    return out


#: a method's wall time per run relative to CE's (the cpu-small and memorise tables; the
#: losses swapped into CE's loop about 1.1-1.4): orders the queue of a parallel run
MEMORISE_COST = {"standard": 1.0, "elr": 1.0, "elr-ce": 1.0, "mixup": 1.0, "gce": 1.1,
                 "forward": 1.1, "ldr-kl": 1.2, "aldr-kl": 1.3, "nce+rce": 1.1,
                 "truncated-gce": 1.1, "ill": 1.4, "coteaching": 2.0, "rdcr": 2.3,
                 "elr-plus": 2.6, "dividemix": 8.0, "dividemix-rank": 8.0, "dividemix-est": 8.2,
                 "cpc": 8.5}
#: the hyperparameters counted in epochs (or steps), scaled with ``epochs`` by a smoke run
EPOCH_KEYS = ("warmup_epochs", "decay_start", "lr_decay_epoch", "num_gradual", "rampup_epochs",
              "ema_rampup_steps", "milestones", "prune_start", "prune_every")


def job_order(job: tuple) -> tuple:
    """Sort key of a (method, setting, seed) job: CE's seed 0 of every setting first, then
    the seed 0 of the methods that cost at most 2 CE-runs (cheapest first), then CE's
    further seeds, then the seed 0 of the costlier methods, then the others' further seeds
    (so that a run stopped early leaves the most comparable table)."""
    method, setting, seed = job
    cost = MEMORISE_COST.get(method, 10.0)
    if method == "standard":
        tier = 0 if seed == 0 else 2
    else:
        tier = (1 if cost <= 2 else 3) if seed == 0 else 4
    return (tier, seed, cost, MEMORISE_SETTINGS.index(setting), method)


def smoke_kwargs(kw: dict, epochs: int) -> dict:
    """``kw`` shortened to ``epochs`` (the keys of :data:`EPOCH_KEYS` scaled by
    ``epochs / kw["epochs"]``): to check every method's code path on a new machine."""
    f = epochs / kw["epochs"]
    out = dict(kw, epochs=epochs)
    for key in EPOCH_KEYS:
        if key in out:
            v = out[key]
            out[key] = ([max(1, round(m * f)) for m in v] if isinstance(v, list)
                        else max(1, round(v * f)) if isinstance(v, int) else max(1.0, v * f))
    return out


def pending_jobs(store_dir: Path, methods, settings, seeds) -> list[tuple]:
    """The (method, setting, seed) runs of the protocol not yet cached in
    ``store_dir/memorise.jsonl``, in :func:`job_order`; finished pilots that are protocol
    runs are adopted into the store first (not trained twice)."""
    store = store_dir / "memorise.jsonl"
    done = {(r["method"], r["setting"], r["seed"]) for r in current_rows(load_rows(store))}
    for row in adoptable_pilots(load_rows(store_dir / "memorise-pilot.jsonl"), done):
        if row["setting"] in settings and "standard" in methods and 0 in seeds:
            done.add(("standard", row["setting"], 0))
            append_row(store, row)
    jobs = [(m, s, seed) for s in settings for m in methods if m in MEMORISE["methods"]
            for seed in seeds if (m, s, seed) not in done]
    return sorted(jobs, key=job_order)


def memorise_job(job: tuple, *, work_dir: Path, store_dir: Path, data_root=None,
                 progress=False, smoke: int | None = None, workers: int = 1) -> dict:
    """Train one (method, setting, seed) run of the protocol (resuming its checkpoint) and
    append its row to ``store_dir/memorise.jsonl``. ``smoke``: that many epochs on 200
    training and 100 test images (rows then differ in their hyperparameters and are never
    rendered as protocol runs). ``workers``: how many runs share the machine (recorded)."""
    method, setting, seed = job
    kw = method_kwargs(method, setting)
    n_train, n_test = MEMORISE["n_train"], MEMORISE["n_test"]
    if smoke:
        kw, n_train, n_test = smoke_kwargs(kw, smoke), 200, 100
    row = memorise_run(method, setting, seed, MEMORISE["model"], n_train, n_test, kw,
                       work_dir=work_dir,
                       tag=f"{method}-{setting}-seed{seed}-{config_digest(kw)}"
                           + (f"-n{n_train}" if smoke else ""),
                       data_root=data_root, progress=progress)
    row["workers"] = workers
    print(json.dumps({k: v for k, v in row.items() if k not in ("history", "hyperparameters")}),
          flush=True)
    append_row(store_dir / "memorise.jsonl", row)
    return row


def run_memorise(work_dir: Path, methods, settings, seeds, data_root=None,
                 progress=False, store_dir: Path | None = None, smoke: int | None = None) -> None:
    """Run the protocol's (method, setting, seed) runs not yet cached in
    ``store_dir/memorise.jsonl`` one after another (each run also resumes from its
    per-epoch checkpoint under ``work_dir``)."""
    store_dir = store_dir or work_dir
    for job in pending_jobs(store_dir, methods, settings, seeds):
        memorise_job(job, work_dir=work_dir, store_dir=store_dir, data_root=data_root,
                     progress=progress, smoke=smoke)


def _memorise_worker(jobs, cfg: dict) -> None:
    """A worker process of :func:`run_memorise_parallel`: takes jobs from the shared queue
    until it is empty or ``cfg["stop_at"]`` (a wall-clock time) has passed, skipping a job
    that would not finish before ``cfg["kill_at"]`` at the pace of the worker's last run
    (seconds per CE-run, :data:`MEMORISE_COST`); a job that raises is logged (with its
    traceback, to ``store_dir/memorise-errors.log``) and skipped."""
    import queue
    import traceback

    torch.set_num_threads(cfg["threads"])
    pace = None  # wall seconds per unit of MEMORISE_COST, from this worker's last run
    while time.time() < cfg["stop_at"]:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            return
        cost = MEMORISE_COST.get(job[0], 10.0)
        if pace is not None and time.time() + 1.1 * pace * cost > cfg["kill_at"]:
            print(f"[{time.time() - cfg['t0']:.0f}s] skip {job}: "
                  f"~{pace * cost:.0f} s would pass the kill time", flush=True)
            continue
        print(f"[{time.time() - cfg['t0']:.0f}s] start {job}", flush=True)
        started = time.time()
        try:
            memorise_job(job, work_dir=cfg["work_dir"], store_dir=cfg["store_dir"],
                         data_root=cfg["data_root"], smoke=cfg["smoke"],
                         workers=cfg["workers"])
            pace = (time.time() - started) / cost
        except Exception:
            text = traceback.format_exc()
            print(f"[{time.time() - cfg['t0']:.0f}s] FAILED {job}: {text.splitlines()[-1]}",
                  flush=True)
            with (cfg["store_dir"] / "memorise-errors.log").open("a") as f:
                f.write(f"{job}\n{text}\n")


def run_memorise_parallel(work_dir: Path, methods, settings, seeds, *, workers: int,
                          data_root=None, store_dir: Path | None = None, threads: int = 1,
                          stop_after: float | None = None, kill_after: float | None = None,
                          smoke: int | None = None) -> None:
    """Run the pending protocol runs in ``workers`` processes (for a GPU, where one small
    network leaves most of the device idle), taking the jobs in :func:`job_order`. No job
    is started ``stop_after`` seconds after the launch; at ``kill_after`` seconds the
    workers still training are stopped (their checkpoints stay under ``work_dir``, so a
    later invocation resumes them) and the epochs they reached are printed."""
    import multiprocessing as mp

    store_dir = store_dir or work_dir
    jobs = pending_jobs(store_dir, methods, settings, seeds)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    for job in jobs:
        queue.put(job)
    t0 = time.time()
    cfg = dict(t0=t0, stop_at=t0 + (stop_after if stop_after is not None else float("inf")),
               kill_at=t0 + (kill_after if kill_after is not None else float("inf")),
               threads=threads, work_dir=work_dir, store_dir=store_dir, data_root=data_root,
               smoke=smoke, workers=workers)
    print(f"{len(jobs)} runs pending, {workers} workers", flush=True)
    procs = [ctx.Process(target=_memorise_worker, args=(queue, cfg)) for _ in range(workers)]
    for p in procs:
        p.start()
    deadline = t0 + kill_after if kill_after is not None else None
    for p in procs:
        p.join(None if deadline is None else max(0.0, deadline - time.time()))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join()
    report_unfinished(work_dir)


def report_unfinished(work_dir: Path) -> None:
    """Print the epochs reached and the median seconds per epoch of every run whose
    checkpoint is under ``work_dir/memorise-ckpt`` (finished ones included)."""
    for path in sorted((work_dir / "memorise-ckpt").glob(f"*/{engine.CHECKPOINT_NAME}")):
        try:
            hist = checkpoint_history(path)
        except Exception as exc:  # a checkpoint cut short by the kill
            print(f"{path.parent.name}: unreadable checkpoint ({exc.__class__.__name__})")
            continue
        secs = [h["seconds"] for h in hist]
        print(f"{path.parent.name}: {len(hist)} epochs, "
              f"{np.median(secs) if secs else float('nan'):.2f} s/epoch", flush=True)


def _save_figure(fig, axes, title: str, path: Path) -> None:
    """Grid and legend on every axis, the title, then the PNG at ``path`` (figure closed)."""
    import matplotlib.pyplot as plt

    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_memorise(rows: list[dict], path: Path, title: str) -> None:
    """Per-epoch curves of CE (one line per setting, seed 0): clean test accuracy, and the
    fraction of wrongly labelled training examples predicted as their given (wrong) label
    (solid) beside the training accuracy on the given labels (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = dict(zip(MEMORISE_SETTINGS, ("C0", "C3", "C2", "C1", "C4")))
    for r in sorted(rows, key=lambda r: MEMORISE_SETTINGS.index(r["setting"])):
        h = r["history"]
        ep = [e["epoch"] for e in h]
        c = colours.get(r["setting"], "k")
        lab = f"{r['setting']}, {r['model']}, n={r['n_train']}"
        if r["model"] != MEMORISE["model"] and not r.get("partial"):
            c = {"sym80": "C1", "sym50": "C9"}.get(r["setting"], c)
        ls = ":" if r.get("partial") else "-"
        axes[0].plot(ep, [100 * e["test_acc"] for e in h], color=c, ls=ls, label=lab)
        axes[1].plot(ep, [100 * (e["memorised"] or 0) for e in h], color=c, ls=ls, label=lab)
        axes[1].plot(ep, [100 * e["train_acc_given"] for e in h], color=c, ls="--", lw=0.8)
    axes[0].set(xlabel="epoch", ylabel="clean test accuracy (%)", title="CE: clean test accuracy")
    axes[1].set(xlabel="epoch", ylabel="%", ylim=(0, 100),
                title="CE: wrong labels predicted as given (solid);\n"
                      "train acc on given labels (dashed)")
    _save_figure(fig, list(axes), title, path)


def method_colours(names) -> dict:
    """One colour per method name, none repeated for up to 20 names: the ten dark colours of
    matplotlib's tab20, then its ten light ones (then around again)."""
    import matplotlib

    tab20 = matplotlib.colormaps["tab20"].colors
    palette = [*tab20[0::2], *tab20[1::2]]
    return {m: palette[i % len(palette)] for i, m in enumerate(names)}


def plot_memorise_methods(rows: list[dict], path: Path, title: str) -> None:
    """Per-epoch curves of the protocol's seed-0 runs, one column per setting: clean test
    accuracy (top) and the fraction of wrongly labelled training examples predicted as their
    given (wrong) label (bottom), one colour per method (Arpit et al. 2017; Liu et al. 2020,
    Figure 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["seed"] == 0]
    settings = [s for s in MEMORISE_SETTINGS if any(r["setting"] == s for r in rows)]
    fig, axes = plt.subplots(2, len(settings), figsize=(4.6 * len(settings), 7), squeeze=False)
    colours = method_colours(PROTOCOL_NAMES)
    for j, setting in enumerate(settings):
        for r in sorted((r for r in rows if r["setting"] == setting),
                        key=lambda r: PROTOCOL_NAMES.index(r["method"])):
            h = r["history"]
            ep = [e["epoch"] for e in h]
            c = colours.get(r["method"], "k")
            axes[0, j].plot(ep, [100 * e["test_acc"] for e in h], color=c, label=r["method"])
            if any(e.get("memorised") is not None for e in h):
                axes[1, j].plot(ep, [100 * (e["memorised"] or 0) for e in h], color=c,
                                label=r["method"])
        axes[0, j].set(xlabel="epoch", ylabel="clean test accuracy (%)",
                       title=f"{setting}: clean test accuracy")
        axes[1, j].set(xlabel="epoch", ylabel="%", ylim=(0, 100),
                       title=f"{setting}: wrong labels predicted as given")
    _save_figure(fig, list(axes.ravel()), title, path)


def _sec_per_epoch_cell(rows: list[dict]) -> str:
    """The s/epoch cell of a table row: the mean over its seeds, one mean per kind of
    device when its seeds ran on different ones (a GPU seed and a CPU seed averaged would
    be neither), e.g. ``1.18 (cuda) / 11.86 (cpu)``."""
    kinds: dict[str, list[float]] = {}
    for r in rows:
        kinds.setdefault(str(r.get("device", "cpu")).split()[0], []).append(r["sec_per_epoch"])
    if len(kinds) == 1:
        return f"{np.mean(next(iter(kinds.values()))):.2f}"
    return " / ".join(f"{np.mean(v):.2f} ({k})" for k, v in sorted(kinds.items(),
                                                                   key=lambda kv: kv[0] != "cuda"))


def _fastest(rows: list[dict]) -> float:
    """Mean over ``rows`` of each run's fastest epoch (seconds)."""
    return float(np.mean([min(h["seconds"] for h in r["history"]) for r in rows]))


def _ms(vals) -> str:
    vals = [100 * v for v in vals]
    return f"{vals[0]:.2f}" if len(vals) == 1 else f"{np.mean(vals):.2f} ± {np.std(vals, ddof=1):.2f}"


#: the training issue's margin of the best method over CE's last epoch, by setting (points)
MEMORISE_MARGIN = {"sym80": 0.15, "worst": 0.15}
#: the training issue's goal of one method: (method, setting) -> its margin over CE's last
#: epoch (RDCR: its paper claims its largest margin at high noise)
METHOD_MARGIN = {("rdcr", "sym80"): 0.10}


def memorise_goals(groups: dict) -> list[str]:
    """One line per setting with CE and another method: each method's last-epoch accuracy
    minus CE's (goal >= 0), and the best method's last epoch against CE's best epoch (goal
    >=) and, at sym80 and worst, against CE's last epoch + 15 points; and the goals of one
    method (:data:`METHOD_MARGIN`: RDCR >= CE's last + 10 at sym80) where it has run.
    ``groups``: (setting, method) -> rows."""
    out = []
    for setting in MEMORISE_SETTINGS:
        ce = groups.get((setting, "standard"))
        others = {m: g for (s, m), g in groups.items() if s == setting and m != "standard"}
        if not ce or not others:
            continue
        ce_last = float(np.mean([r["last_acc"] for r in ce]))
        ce_best = float(np.mean([r["best_acc"] for r in ce]))
        last = {m: float(np.mean([r["last_acc"] for r in g])) for m, g in others.items()}
        top = max(last, key=last.get)
        parts = [f"{m} {100 * (v - ce_last):+.1f}" for m, v in last.items()]
        line = (f"{setting}: last epoch minus CE's last ({100 * ce_last:.1f}): "
                f"{', '.join(parts)} ({'every method >= CE' if min(last.values()) >= ce_last else 'NOT every method >= CE'}); "
                f"best method {top} {100 * last[top]:.1f} vs CE's best epoch {100 * ce_best:.1f} "
                f"({'met' if last[top] >= ce_best else 'not met'})")
        if setting in MEMORISE_MARGIN:
            need = ce_last + MEMORISE_MARGIN[setting]
            line += (f", vs CE's last + {100 * MEMORISE_MARGIN[setting]:.0f} = {100 * need:.1f} "
                     f"({'met' if last[top] >= need else 'not met'})")
        for (method, where), margin in METHOD_MARGIN.items():
            if where == setting and method in last:
                need = ce_last + margin
                line += (f"; {method} {100 * last[method]:.1f} vs CE's last + "
                         f"{100 * margin:.0f} = {100 * need:.1f} "
                         f"({'met' if last[method] >= need else 'not met'})")
        out.append(line)
    return out


def superseded_rows(rows: list[dict]) -> list[dict]:
    """The cached runs of an older configuration of a protocol method whose (method,
    setting, seed) has a run of the present one (kept in the section as a reference line)."""
    current = current_rows(rows)
    now = {(r["method"], r["setting"], r["seed"]) for r in current}
    return [r for r in rows if r not in current and r["method"] in MEMORISE["methods"]
            and (r["method"], r["setting"], r["seed"]) in now]


def superseded_line(superseded) -> str:
    """One sentence naming the superseded runs, the settings that differ from the present
    configuration and their accuracies."""
    return "Superseded runs (an older configuration of the method; the table has the present " \
        "one): " + "; ".join(
            f"{r['method']} {r['setting']} seed {r['seed']} with "
            + ", ".join(f"{k}={v}" for k, v in r["hyperparameters"].items()
                        if method_kwargs(r["method"], r["setting"]).get(k) != v)
            + f": last epoch {100 * r['last_acc']:.2f}%, best {100 * r['best_acc']:.2f}% "
            f"(epoch {r['best_epoch']})" for r in superseded) + "."


def machine_line(rows: list[dict]) -> str:
    """The ``Machine:`` paragraph of the memorise section, from the rows' ``device``,
    ``torch`` and ``workers`` fields (CPU when no row names a device). Where the runs were
    made on more than one device, each device gets its own clause with its number of runs,
    and the runs of every device but the most used one are named (method, setting, seed)."""
    by_device: dict[str, list[dict]] = {}
    for r in rows:
        by_device.setdefault(r.get("device", "cpu"), []).append(r)
    if not by_device:
        by_device = {"cpu": []}

    def clause(device: str, group: list[dict]) -> str:
        torches = sorted({r.get("torch", torch.__version__) for r in group}) or [torch.__version__]
        workers = sorted({r.get("workers", 1) for r in group}) or [1]
        if device.startswith("cpu"):
            threads = f", {device[5:-1]}" if device.startswith("cpu (") else ""
            return (f"2-core CPU, 24 GB, torch {', '.join(torches)}{threads}; runs made "
                    "one after another, the CPU at times shared with lighter jobs")
        return (f"{device} (the device machine lent to the session; bfloat16 autocast), torch "
                f"{', '.join(torches)}; runs made {'/'.join(str(w) for w in workers)} at a time, "
                "one process each (`--workers`), sharing the GPU")

    if len(by_device) == 1:
        (device, group), = by_device.items()
        where = clause(device, group)
    else:
        order = sorted(by_device, key=lambda d: (-len(by_device[d]), d))
        parts = []
        for i, device in enumerate(order):
            group = by_device[device]
            named = ""
            if i > 0:
                named = " (" + ", ".join(
                    f"{r.get('method')} {r.get('setting')} seed {r.get('seed', 0)}"
                    for r in sorted(group, key=lambda r: (str(r.get("method")),
                                                          str(r.get("setting")),
                                                          int(r.get("seed", 0))))) + ")"
            runs = "run" if len(group) == 1 else "runs"
            parts.append(f"{len(group)} {runs}{named} on {clause(device, group)}")
        where = "; ".join(parts)
    return (f"Machine: {where}; rendered {time.strftime('%Y-%m-%d')} from the cached runs "
            "(each run's s/epoch below).")


def render_memorise(rows: list[dict], pilot: list[dict], superseded=(),
                    cost: list[dict] | None = None) -> str:
    lines = ["### Profile `memorise` (does CE memorise the noisy labels? the protocol where robust "
             "methods should pay)", "",
             "Command: `flock /tmp/labelnoise-heavy.lock nice -n 5 python benchmarks/train_cifar.py "
             "--profile memorise --data-root DIR [--methods ...] [--settings ...] [--seeds 0,1,2]` "
             "(each run checkpointed every epoch and resumed; finished runs cached in "
             "`memorise.jsonl`); on a GPU add `--workers 10 --threads 1` (ten runs at a time, "
             "cheapest and most comparable first; `--stop-after` / `--kill-after` fit a lease, "
             "unfinished runs resume from their checkpoints).", "",
             machine_line(rows), "",
             f"Protocol: **{MEMORISE['protocol']}**", "",
             "Validity: the protocol counts only where CE memorises: its last-epoch training "
             "accuracy on the given (noisy) labels passes 90%, and its last-epoch clean test "
             "accuracy falls at least 10 points below its best epoch at sym80 and worse, 5 at "
             "sym50. The memorisation diagnostic (engine: `true_labels` -> `memorised`, "
             "`train_acc_given`) is computed on every training example (n <= "
             "2,000) or an evenly strided subset of at most 2,000, in eval mode without "
             "augmentation.", ""]
    if pilot:
        lines += ["Pilot (CE, seed 0, 2,000 fixed test images; to choose the configuration by "
                  "measurement). s/epoch: median wall seconds per epoch including the test "
                  "evaluation and the diagnostic, on the 2-core CPU, at times shared with other "
                  "jobs (so upper bounds):", "",
                  "| pilot | model | n_train | setting | epochs | weight decay | schedule | "
                  "train acc on given labels, last (%) | memorised, last (%) | best test acc "
                  "(%, epoch) | last test acc (%) | drop (pts) | valid? | s/epoch, median "
                  "(min) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in pilot:
            kw = r["hyperparameters"]
            ok, _ = memorise_valid(r)
            sched = kw.get("schedule", "")
            if sched == "step":
                ms = kw.get("milestones") or (0.5 * kw["epochs"], 0.75 * kw["epochs"])
                sched = f"step lr {kw['lr']} x0.1 at {', '.join(str(int(m)) for m in ms)}"
            epochs = (f"{r['epochs']} of {kw['epochs']} (interrupted)" if r.get("partial")
                      else r["epochs"])
            lines.append(
                f"| {r['tag']} | {r['model']} | {r['n_train']} | {r['setting']} | {epochs} | "
                f"{kw.get('weight_decay')} | {sched} | {100 * (r['last_train_acc_given'] or 0):.1f} | "
                f"{100 * (r['last_memorised'] or 0):.1f} | {100 * r['best_acc']:.2f} "
                f"({r['best_epoch']}) | {100 * r['last_acc']:.2f} | "
                f"{100 * (r['best_acc'] - r['last_acc']):.1f} | "
                f"{'not finished' if r.get('partial') else 'yes' if ok else 'no'} | "
                f"{r['sec_per_epoch']:.2f} ({min(h['seconds'] for h in r['history']):.2f}) |")
        lines.append("")
    if MEMORISE.get("budget"):
        lines += [MEMORISE["budget"], ""]
    if rows:
        groups: dict = {}
        for r in rows:
            groups.setdefault((r["setting"], r["method"]), []).append(r)
        lines += ["Headline: last-epoch clean test accuracy (%), mean ± std over seeds; the best "
                  "epoch column is **selected on the test set** (optimistic).", "",
                  "| setting | noise rate | method | seeds | last epoch acc (%) | best epoch acc "
                  "(%, test-selected) | train acc on given labels, last (%) | memorised, last (%) "
                  "| s/epoch | s/epoch vs CE |", "|---|---|---|---|---|---|---|---|---|---|"]
        validity = []
        cost_of = {c["method"]: c["sec_per_epoch"] for c in cost or []}
        for setting in MEMORISE_SETTINGS:
            for method in PROTOCOL_NAMES:
                g = groups.get((setting, method))
                if not g:
                    continue
                mem = [r["last_memorised"] for r in g if r["last_memorised"] is not None]
                tr = [r["last_train_acc_given"] for r in g if r["last_train_acc_given"] is not None]
                ce_g = groups.get((setting, "standard"))
                spe = _sec_per_epoch_cell(g)
                # the cost run where there is one; else runs made one at a time; runs
                # sharing a GPU (workers > 1) time-slice it: no cost ratio
                if method in cost_of and "standard" in cost_of:
                    rel = f"{cost_of[method] / cost_of['standard']:.1f}x"
                elif ce_g and all(r.get("workers", 1) == 1 for r in g + ce_g):
                    rel = f"{_fastest(g) / _fastest(ce_g):.1f}x"
                else:
                    rel = "-"
                lines.append(
                    f"| {setting} | {100 * g[0]['noise_rate']:.1f}% | {method} | {len(g)} | "
                    f"{_ms([r['last_acc'] for r in g])} | {_ms([r['best_acc'] for r in g])} | "
                    f"{_ms(tr) if tr else '-'} | {_ms(mem) if mem else '-'} | "
                    f"{spe} | {rel} |")
            ce = groups.get((setting, "standard"))
            if ce:
                ok, why = memorise_valid(ce[0])
                validity.append(f"{setting} (CE seed {ce[0]['seed']}): {why} -> "
                                f"{'valid' if ok else 'NOT valid'}")
        lines += ["", "Validity: " + "; ".join(validity) + ".", ""]
        goals = memorise_goals(groups)
        if goals:
            lines += ["Goals of the training issue (means over the seeds run; a setting's "
                      "goals count only where it is valid): " + "; ".join(goals) + ".", ""]
        adopted = [f"{r['method']} {r['setting']} seed {r['seed']} is the {r['adopted_from']}"
                   for r in rows if r.get("adopted_from")]
        if adopted:
            lines += ["Runs taken from the pilot (the same configuration, not trained twice): "
                      + "; ".join(adopted) + ".", ""]
        if superseded:
            lines += [superseded_line(superseded), ""]
        shared = max(r.get("workers", 1) for r in rows)
        if "standard" in cost_of:
            c0 = (cost or [])[0]
            ratio = ("s/epoch vs CE: from the cost run (`--cost`): every method at sym50, seed "
                     f"0, {MEMORISE_COST_EPOCHS} epochs of its protocol settings with a "
                     "one-epoch warm-up (DivideMix, forward correction), one after another in "
                     f"one process on {c0['device']} (torch {c0['torch']}, {c0['date']}); the "
                     f"median of the last {MEMORISE_COST_TAIL} epochs. CE: "
                     f"{cost_of['standard']:.2f} s per epoch there; every method measured: "
                     + ", ".join(f"{m} {c / cost_of['standard']:.2f}x"
                                 for m, c in cost_of.items())
                     + " (timings vary about ±15% between runs: CPU.md).")
        else:
            ratio = ("the ratio to CE compares the runs' fastest epochs (the least disturbed "
                     "by other jobs), of runs made one after another on the same machine, not "
                     "in one process.")
        alone = [r for r in rows if r.get("workers", 1) == 1]
        together = [r for r in rows if r.get("workers", 1) > 1]
        lines += ["s/epoch: median wall seconds per epoch of each run (training, test "
                  "evaluation and the memorisation diagnostic)"
                  + (f"; here {'the GPU' if alone else 'the'} runs were made {shared} at a "
                     "time, each in its own process sharing one GPU, so "
                     f"{'their' if alone else 'an'} epoch's time is the run's share of the GPU "
                     "and says nothing about a method's cost"
                     + ("; the other runs' are their own, one run at a time" if alone else "")
                     if shared > 1 else "")
                  + ". " + ratio, ""]
        elapsed = []
        if together:
            elapsed.append(f"the runs made {shared} at a time: about "
                           f"{sum(r['wall_seconds'] / r['workers'] for r in together) / 60:.0f}"
                           " min elapsed")
        if together and alone:
            elapsed.append(f"{len(alone)} run{'s' if len(alone) > 1 else ''} made one at a "
                           f"time: {sum(r['wall_seconds'] for r in alone) / 60:.0f} min")
        lines.append(f"Total wall time of these rows: "
                     f"{sum(r['wall_seconds'] for r in rows) / 3600:.2f} h"
                     + (f" ({'; '.join(elapsed)})." if elapsed else "."))
        lines += ["", "Hyperparameters of the methods in the table (the profile; the "
                  "noise-dependent ones from the registry: Co-teaching's forget rate = the "
                  "noise rate; DivideMix's lambda_u and confidence penalty; ELR's lambda / "
                  "beta 3 / 0.7 on symmetric noise, 1 / 0.9 on asymmetric):", ""]
        for method in PROTOCOL_NAMES:
            if any(r["method"] == method for r in rows):
                kw = ", ".join(f"{k}={v}" for k, v in MEMORISE["methods"][method].items())
                lines.append(f"* {method}: model {MEMORISE['model']}, {kw}")
                for (m, setting), over in MEMORISE["per_setting"].items():
                    if m == method:
                        kw = ", ".join(f"{k}={v}" for k, v in over.items())
                        lines.append(f"  * at {setting} (its paper's setting for that noise "
                                     f"kind): {kw}")
                # DivideMix's forget_rate="estimate" estimates before its warm-up, forward
                # correction after it
                estimated_first = (MEMORISE["methods"][method].get("forget_rate")
                                   == training.ESTIMATE_FORGET_RATE)
                for r in rows:
                    if r["method"] == method and r.get("estimated_noise_rate") is not None:
                        lines.append(
                            f"  * {r['setting']} seed {r['seed']}: noise rate estimated "
                            f"{'before' if estimated_first else 'after'} the warm-up "
                            f"{100 * r['estimated_noise_rate']:.1f}% (realised "
                            f"{100 * r['noise_rate']:.1f}%)")
        lines.append("")
    lines += ["![per-epoch clean test accuracy and the fraction of wrongly labelled training "
              "examples predicted as their given label, per method and setting (seed 0)]"
              "(results/memorise_curves.png)"
              if rows else "![pilot: CE's per-epoch clean test accuracy and memorised "
              "fraction](results/memorise_curves.png)", ""]
    return "\n".join(lines)


def load_rows(path: Path) -> list[dict]:
    """The cached result rows of one profile (:func:`_tables.load_rows`; method names as the
    registry spells them)."""
    rows = _tables.load_rows(path)
    for r in rows:
        r["method"] = RENAMED.get(r["method"], r["method"])
    return rows


def run_one(method: str, setting: str, profile: dict, *, seed: int, data_root, progress: bool,
            smoke: int | None = None):
    """Train ``method`` on ``setting`` with the profile's schedule; return the result row.
    ``smoke``: that many epochs (:func:`smoke_kwargs`) on a subset of twice the batch size
    (at least 200 images) and 100 test images, to check a profile's code path on a new
    machine; the row says ``smoke``."""
    noise, label_set = SETTINGS[setting]
    kw = dict(profile["methods"][method])
    subset, test_subset = profile["subset"], profile["test_subset"]
    if smoke:
        kw = smoke_kwargs(kw, smoke)
        subset, test_subset = max(200, 2 * kw.get("batch_size", 128)), 100
    cfg = dict(noise=noise, label_set=label_set, seed=seed, data_root=data_root,
               subset=subset, test_subset=test_subset)
    x, noisy, true, x_test, y_test, noise_rate = load_data(cfg)
    common = dict(model=profile["model"], seed=seed, test_images=x_test, test_labels=y_test,
                  progress=progress, num_classes=10)
    # the registry's entry: the fit function, the paper's noise-dependent settings
    # (Co-teaching's forget rate = the noise rate; DivideMix's lambda_u and confidence
    # penalty) and the clean labels for the methods that record diagnostics with them
    entry = training.METHODS[method]
    extra = entry.settings_for(noise_rate, setting == "asym40")
    if entry.accepts("true_labels"):
        extra["true_labels"] = true
    start = time.perf_counter()
    res = entry.load()(x, noisy, **{**extra, **kw}, **common)
    wall = time.perf_counter() - start
    accs = [h["test_acc"] for h in res.history]
    return dict(method=method, setting=setting, noise_rate=round(noise_rate, 4),
                last_acc=accs[-1], best_acc=max(accs), best_epoch=int(np.argmax(accs)) + 1,
                epochs=len(accs), wall_seconds=round(wall, 1), n_train=int(len(noisy)),
                n_test=int(len(y_test)),
                device=device_name(),
                torch=torch.__version__, hyperparameters=kw, model=profile["model"],
                **({"smoke": smoke} if smoke else {}))


def render_header() -> list[str]:
    return [
        "## Training on noisy labels (`benchmarks/train_cifar.py`)",
        "",
        "Command: `flock /tmp/labelnoise-heavy.lock python benchmarks/train_cifar.py "
        "--profile PROFILE [--methods ...] [--settings ...]` (several short invocations; each "
        "run is cached in the work dir, the table is re-rendered from all cached runs).",
        f"Machine: 2-core CPU, 24 GB, torch {torch.__version__}; date "
        f"{datetime.date.today().isoformat()}; Python {platform.python_version()}.",
        "",
        "Test accuracy is on the clean CIFAR-10 test set (or its seeded subset) after the "
        "last epoch and at the best epoch (best-epoch selection uses the test set, as the "
        "published leaderboards do). Synthetic symmetric noise resamples a label uniformly "
        "over all 10 classes (DivideMix/ELR convention: 'sym50' flips about 45% of labels); "
        "asymmetric noise uses the Patrini et al. class pairs; CIFAR-10N uses the human label "
        "sets. The noise is applied to all 50,000 labels (seed 0) before any subset is drawn.",
        "",
        "**The CPU rows are reduced schedules and are not comparable with the published "
        "anchors, which train larger networks on all 50,000 images for 100-300 epochs. The "
        "GPU rows (full data; goals: CIFAR-10N worst >= 92.6% and symmetric 50% >= 94.6% in "
        "under 10 minutes on one H100) are still open: no GPU was available in this "
        "session.**",
        "",
    ]


def render(rows: list[dict], profile_name: str) -> str:
    profile = PROFILES[profile_name]
    by_key = {(r["method"], r["setting"]): r for r in rows}
    run_settings = {r["setting"] for r in rows}
    lines = [
        f"### Profile `{profile_name}`",
        "",
        f"Protocol of our rows: **{profile['protocol']}**.",
        "",
        "| setting | noise rate | method | last epoch acc (%) | best epoch acc (%) | "
        "wall time (s) | device | published anchor (%) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setting in SETTINGS:
        for method in METHODS:
            r = by_key.get((method, setting))
            anchor = ANCHORS.get((method, setting))
            anchor_txt = f"{anchor[0]} [{anchor[1]}]" if anchor else "-"
            if r is None and (method not in profile["methods"] or (
                    profile_name != "cpu-small" and setting not in run_settings)):
                continue
            if r is None:
                lines.append(f"| {setting} | | {method} | not run | | | | {anchor_txt} |")
                continue
            lines.append(
                f"| {setting} | {100 * r['noise_rate']:.1f}% | {method} | "
                f"{100 * r['last_acc']:.2f} | {100 * r['best_acc']:.2f} (ep {r['best_epoch']}) "
                f"| {r['wall_seconds']:.0f}{' (' + r['note'] + ')' if r.get('note') else ''} "
                f"| {r['device']} | {anchor_txt} |")
    lines += ["", OTHER_ANCHORS, ""]
    trio = ("standard", "dividemix", "rdcr")
    if any((m, st) in by_key for m in trio for st in ("sym50", "sym80", "worst")):
        lines += ["RDCR against CE and DivideMix (the comparison of the partial-label / RDCR issue), "
                  "last epoch (best epoch) test accuracy, %:", "",
                  "| setting | CE | DivideMix | RDCR |", "|---|---|---|---|"]
        for st in ("sym50", "sym80", "worst"):
            cells = [f"{100 * by_key[(m, st)]['last_acc']:.2f} ({100 * by_key[(m, st)]['best_acc']:.2f})"
                     if (m, st) in by_key else "not run" for m in trio]
            lines.append(f"| {st} | " + " | ".join(cells) + " |")
        lines.append("")
    if profile_name == "cpu-small" and rows:
        best = {}
        for r in rows:
            if r["setting"] not in best or r["last_acc"] > best[r["setting"]]["last_acc"]:
                best[r["setting"]] = r
        wins = sorted({r["method"] for r in best.values()})
        ce_wins = sum(r["method"] == "standard" for r in best.values())
        lines += [f"Reading: the best last-epoch accuracy per setting comes from {', '.join(wins)}; "
                  f"plain cross entropy is best in {ce_wins} of {len(best)} settings. With 4,000 "
                  "images and 8 epochs a 75k-parameter network stays in the early-learning phase "
                  "(far from fitting the noisy labels), where the robust methods' mechanisms "
                  "(small-loss selection, ELR targets, DivideMix's semi-supervised split after a "
                  "2-epoch warm-up, RDCR's rotation task and consistency with an EMA teacher) "
                  "only slow learning; these rows show that every method runs end to end on real "
                  "data, not what it reaches on a GPU schedule.", ""]
    if profile_name == "cpu-long" and rows:
        unfit = all(r["best_epoch"] == r["epochs"] for r in rows)
        lines += ["Reading: " + ("every row's best epoch is its last, i.e. after 40 epochs on "
                  "10,000 images the network is still improving on the clean test set and has "
                  "not begun to fit the noisy labels (the memorisation phase, where CE's "
                  "accuracy falls and the robust methods should pull ahead, is not reached "
                  "on this CPU budget)." if unfit else "some rows peak before their last "
                  "epoch: compare the last and best columns for the memorisation drop."), ""]
    if profile_name == "cpu-30min" and rows:
        best = max(rows, key=lambda r: r["best_acc"])
        lines += [f"Reading: the best accuracy a 30-minute run on this 2-core CPU reaches on "
                  f"CIFAR-10N worst is {100 * best['best_acc']:.2f}% ({best['method']}, "
                  f"{best['epochs']} epochs, {best['wall_seconds'] / 60:.1f} min), from a network "
                  "with 0.27 M parameters trained on the full noisy training set; the GPU "
                  "methods of the anchors reach 92-96% with ResNet-18/34 and hours of training.",
                  ""]
    if rows:
        lines += ["Hyperparameters of our rows (from the profile):", ""]
        for method, kw in profile["methods"].items():
            lines.append(f"* {method}: model {profile['model']}, "
                         + ", ".join(f"{k}={v}" for k, v in kw.items()))
        lines += ["* Co-teaching's forget rate = the realised noise rate; DivideMix's "
                  "lambda_u = 0 for noise <= 25% and asymmetric noise, else 25; the "
                  "confidence penalty is on for asymmetric noise (paper settings).", ""]
        total = sum(r["wall_seconds"] for r in rows)
        lines.append(f"Total wall time of these rows: {total / 60:.1f} min.")
    lines.append("")
    return "\n".join(lines)


MEMORISE_HEADING = "### Profile `memorise`"


def memorise_section(work_dir: Path, results_dir: Path, store_dir: Path | None = None) -> str:
    """The memorise section from the cached runs and pilots (``store_dir``; unfinished
    pilots from their checkpoints under ``work_dir``); also writes the CE curves to
    ``results_dir/memorise_curves.png``."""
    store_dir = store_dir or work_dir
    cached = load_rows(store_dir / "memorise.jsonl")
    rows = current_rows(cached)
    pilot = load_rows(store_dir / "memorise-pilot.jsonl")
    pilot += unfinished_pilots(work_dir, {r["tag"] for r in pilot})
    if rows:
        plot_memorise_methods(rows, results_dir / "memorise_curves.png",
                              "protocol `memorise`, seed 0, 2,000 clean test images")
    elif pilot:
        plot_memorise(pilot, results_dir / "memorise_curves.png",
                      "pilot: CE, seed 0, 2,000 clean test images (dotted line: not finished)")
    return render_memorise(rows, pilot, superseded_rows(cached),
                           load_rows(store_dir / "memorise-cost.jsonl"))


def write_memorise_section(work_dir: Path, markdown: Path, store_dir: Path | None = None,
                           force: bool = False) -> None:
    """Put the memorise section into ``markdown`` in place of an older one (before the open
    gpu profile, else at the end), leaving the other profiles' sections as they are (their
    cached rows need not be on this machine). A section that would show fewer runs than
    the one in ``markdown`` (runs lost from the store: about 14 hours of CPU training) is
    not written unless ``force``."""
    store_dir = store_dir or work_dir
    if not ((store_dir / "memorise.jsonl").exists() or (store_dir / "memorise-pilot.jsonl").exists()):
        print(f"no memorise runs in {store_dir}: {markdown} left as it is")
        return
    text = markdown.read_text() if markdown.exists() else "\n".join(render_header())
    section = memorise_section(work_dir, markdown.parent, store_dir).rstrip() + "\n\n"
    if MEMORISE_HEADING in text:
        start = text.index(MEMORISE_HEADING)
        nxt = text.find("\n### ", start + 1)
        fewer = shrinks(section, text[start:nxt if nxt >= 0 else len(text)])
        if fewer and not force:
            print(f"the memorise table in {markdown} shows {fewer[0]} runs, {store_dir} has "
                  f"{fewer[1]}: {markdown} left as it is (--force-render replaces it)")
            return
        text = text[:start] + section + (text[nxt + 1:] if nxt >= 0 else "")
    elif "### Profile `gpu` (open)" in text:
        i = text.index("### Profile `gpu` (open)")
        text = text[:i] + section + text[i:]
    else:
        text = text.rstrip() + "\n\n" + section
    _io.write_text(markdown, text)
    print(f"wrote {markdown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=[*sorted(PROFILES), "memorise"],
                        default="cpu-small")
    parser.add_argument("--methods", default=None,
                        help="comma-separated (default: every method of the profile; for "
                             "memorise the losses run in CE's loop too)")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--work-dir", type=Path,
                        default=Path.home() / ".cache" / "labelnoise-train-bench",
                        help="checkpoints of unfinished runs (kept across reboots, unlike /tmp)")
    parser.add_argument("--store-dir", type=Path, default=RAW,
                        help="finished runs, one JSON line each (committed with the tables, "
                             "so that they can be re-rendered on another machine)")
    parser.add_argument("--markdown", type=Path,
                        default=Path(__file__).parent / "results" / "training.md")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default="0",
                        help="memorise profile: comma-separated training seeds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--force-render", action="store_true",
                        help="replace a table even when it would show fewer runs")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--workers", type=int, default=1,
                        help="memorise profile: train this many runs at once, each in its own "
                             "process (on a GPU; --threads is then per worker)")
    parser.add_argument("--stop-after", type=float, default=None,
                        help="with --workers: start no run after this many seconds")
    parser.add_argument("--kill-after", type=float, default=None,
                        help="with --workers: stop the workers after this many seconds "
                             "(unfinished runs resume from their checkpoints next time)")
    parser.add_argument("--cost", action="store_true",
                        help="memorise profile: measure the cost column instead (--methods at "
                             "sym50, seed 0, a few epochs each, one after another; run on a "
                             "quiet machine)")
    parser.add_argument("--smoke", type=int, default=None,
                        help="check the code paths with this many epochs on a few hundred "
                             "images (rows never rendered as protocol runs; use a scratch "
                             "--store-dir; other profiles: nothing is rendered)")
    parser.add_argument("--pilot", default=None,
                        help="memorise profile: run these pilot tags of MEMORISE_PILOT "
                             "(comma-separated; 'all') instead of the protocol")
    args = parser.parse_args()
    if args.methods is None:
        args.methods = ",".join(MEMORISE["methods"] if args.profile == "memorise" else METHODS)
    torch.set_num_threads(args.threads)
    if args.pilot is not None:
        tags = list(MEMORISE_PILOT) if args.pilot == "all" else args.pilot.split(",")
        args.work_dir.mkdir(parents=True, exist_ok=True)
        args.store_dir.mkdir(parents=True, exist_ok=True)
        run_memorise_pilot(args.work_dir, tags, args.data_root, args.progress, args.store_dir)
        return
    if args.profile == "memorise":
        args.work_dir.mkdir(parents=True, exist_ok=True)
        if args.cost:
            args.store_dir.mkdir(parents=True, exist_ok=True)
            cost_store = args.store_dir / "memorise-cost.jsonl"
            cost = load_rows(cost_store)
            for m in [m for m in args.methods.split(",") if m in MEMORISE["methods"]]:
                c = memorise_cost(m, args.data_root, args.smoke or MEMORISE_COST_EPOCHS)
                print(json.dumps(c), flush=True)
                cost = [r for r in cost if r["method"] != m] + [c]
                write_rows(cost_store, cost)
        elif not args.render_only:
            settings = [s for s in args.settings.split(",") if s in MEMORISE_SETTINGS]
            methods = [m for m in args.methods.split(",") if m]
            seeds = [int(x) for x in args.seeds.split(",")]
            args.store_dir.mkdir(parents=True, exist_ok=True)
            if args.workers > 1:
                run_memorise_parallel(args.work_dir, methods, settings, seeds,
                                      workers=args.workers, data_root=args.data_root,
                                      store_dir=args.store_dir, threads=args.threads,
                                      stop_after=args.stop_after, kill_after=args.kill_after,
                                      smoke=args.smoke)
            else:
                run_memorise(args.work_dir, methods, settings, seeds, args.data_root,
                             args.progress, args.store_dir, args.smoke)
            if args.smoke:
                return
        write_memorise_section(args.work_dir, args.markdown, args.store_dir, args.force_render)
        return
    methods = [m for m in args.methods.split(",") if m]
    settings = [s for s in args.settings.split(",") if s]
    for m in methods:
        if m not in METHODS:
            parser.error(f"unknown method {m!r}; choose from {METHODS}")
    for s in settings:
        if s not in SETTINGS:
            parser.error(f"unknown setting {s!r}; choose from {list(SETTINGS)}")
    store = args.store_dir / f"{args.profile}.jsonl"
    store.parent.mkdir(parents=True, exist_ok=True)
    rows = load_rows(store)
    done = {(r["method"], r["setting"]) for r in rows}
    if not args.render_only:
        for setting in settings:
            for method in methods:
                if (method, setting) in done or method not in PROFILES[args.profile]["methods"]:
                    continue
                row = run_one(method, setting, PROFILES[args.profile], seed=args.seed,
                              data_root=args.data_root, progress=args.progress,
                              smoke=args.smoke)
                print(json.dumps({k: v for k, v in row.items() if k != "hyperparameters"}),
                      flush=True)
                rows.append(row)
                append_row(store, row)
    if args.smoke:
        return
    if not any((args.store_dir / f"{name}.jsonl").exists() for name in [*PROFILES, "memorise"]):
        print(f"no runs in {args.store_dir}: {args.markdown} left as it is")
        return
    sections = render_header()
    for name in PROFILES:
        path = args.store_dir / f"{name}.jsonl"
        if name == args.profile or path.exists():
            cached = rows if name == args.profile else load_rows(path)
            sections.append(render(cached, name))
    if (args.store_dir / "memorise.jsonl").exists() or (
            args.store_dir / "memorise-pilot.jsonl").exists():
        sections.append(memorise_section(args.work_dir, args.markdown.parent, args.store_dir))
    if not (args.store_dir / "gpu.jsonl").exists():
        sections += ["### Profile `gpu` (open)", "",
                     "Not run yet: `python benchmarks/train_cifar.py --profile gpu` on one GPU "
                     "(airbench-style net, full data; schedules in PROFILES in the script); on a "
                     "lent device machine `bash benchmarks/gpu_profile.sh` (the runs one after "
                     "another within a time budget, its code path checked here with "
                     "`--smoke 1`).", ""]
    write_table("\n".join(sections), args.markdown, args.store_dir, args.force_render)


if __name__ == "__main__":
    main()
