"""Training on noisy labels: one engine, one module per method, one registry.

* :mod:`labelnoise.training.engine`: the epoch loop (:func:`~labelnoise.training.engine.run`:
  progress, evaluation, history, checkpoint and exact resume), the
  :class:`~labelnoise.training.engine.Method` API, data on the device, tensor augmentation,
  LR schedules, :func:`~labelnoise.training.engine.predict_proba`.
* :mod:`labelnoise.training.standard`: one network, any loss of :mod:`labelnoise.losses`.
* :mod:`labelnoise.training.mixup`: the same on mixed pairs of examples and labels (Zhang et
  al. 2018).
* :mod:`labelnoise.training.coteaching`: Co-teaching (Han et al. 2018).
* :mod:`labelnoise.training.elr`: early-learning regularization, ELR and ELR+ (Liu et al. 2020).
* :mod:`labelnoise.training.dividemix`: DivideMix (Li et al. 2020).
* :mod:`labelnoise.training.cpc`: a class-prototype cleaner inside DivideMix after CPC (Huang
  et al. 2022; reconstructed from the paper's abstract, see the module).
* :mod:`labelnoise.training.rdcr`: rotation-decoupled consistency regularization (Tsai et al. 2019).
* :mod:`labelnoise.training.forward`: forward loss correction with a given or estimated noise
  matrix (Patrini et al. 2017).
* :mod:`labelnoise.training.proden`: PRODEN on partial labels (Lv et al. 2020).
* :mod:`labelnoise.training.coreg`: Co-Reg on noisy partial labels (Wang et al. 2025).
* :mod:`labelnoise.training.ill`: ILL, imprecise label learning by EM (Chen et al. 2024),
  on noisy labels (``ill``) and on noisy candidate sets (``ill-partial``).
* :mod:`labelnoise.training.data`: :func:`fit_dataset`, training on an image folder, a table,
  embeddings or arrays (any K), with a noisy validation split for model selection
  (``labelnoise train DATASET``).
* :mod:`labelnoise.training.distributed`: data-parallel training with PyTorch
  ``DistributedDataParallel`` (``labelnoise train --nproc N`` or ``torchrun``) for the
  methods whose entry says ``distributed=True``.

Each method's ``fit(images, labels_or_candidates, ...)`` returns a
:class:`~labelnoise.training.engine.FitResult`. :data:`METHODS` names them all: the
``--method`` choices of ``labelnoise train`` and the methods of
``benchmarks/train_cifar.py`` come from it. Importing this package does not import torch;
:meth:`MethodEntry.load` (or importing a method module) does.

Adding a method: its module (a :class:`~labelnoise.training.engine.Method` subclass and a
``fit`` that calls :func:`~labelnoise.training.engine.run`), one line in :data:`METHODS`,
and its tests.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass


@dataclass(frozen=True)
class MethodEntry:
    """One entry of :data:`METHODS`.

    Attributes:
        fit: ``"module:function"``, the method's ``fit`` in ``labelnoise.training.<module>``
            (imported on first use).
        candidates: True when ``fit`` learns from candidate sets (bool (N, K), the partial
            labels of :mod:`labelnoise.partial`) instead of one label per example.
        options: the method-specific settings that ``labelnoise train`` passes on when given
            (``loss``, ``forget_rate``, ``lambda_u``, ``warmup_epochs``, ``noise_matrix``,
            ``strong_augment``); the CLI refuses them for other methods.
        noise_settings: ``"module:function"`` giving, as ``f(noise_rate, asymmetric)``, the
            ``fit`` keyword arguments the method's paper sets from the noise (used by the
            CLI and the benchmarks unless an option overrides them); None: none.
        distributed: True when the method trains with DistributedDataParallel in a run of
            several processes (``labelnoise train --nproc N``, ``torchrun``; see
            :mod:`labelnoise.training.distributed`); its ``Method`` class says the same.
        estimates_forget_rate: True when ``forget_rate`` may be ``"estimate"``
            (:data:`ESTIMATE_FORGET_RATE`: the methods built on DivideMix's division).
    """

    fit: str
    candidates: bool = False
    options: tuple[str, ...] = ()
    noise_settings: str | None = None
    distributed: bool = False
    estimates_forget_rate: bool = False

    @property
    def module(self) -> str:
        """The method module's name under ``labelnoise.training``."""
        return self.fit.partition(":")[0]

    def load(self):
        """The ``fit`` function (imports its module, and torch)."""
        return _resolve(self.fit)

    def accepts(self, argument: str) -> bool:
        """Whether ``fit`` takes the keyword ``argument`` (e.g. ``"true_labels"``,
        ``"num_classes"``)."""
        return argument in inspect.signature(self.load()).parameters

    def settings_for(self, noise_rate: float, asymmetric: bool, epochs: int | None = None) -> dict:
        """The paper's noise-dependent ``fit`` arguments (empty when none). ``epochs``: the
        run's length, for the settings that scale with it (ELR's asymmetric-noise schedule);
        None leaves those out."""
        if self.noise_settings is None:
            return {}
        settings = _resolve(self.noise_settings)
        if epochs is not None and "epochs" in inspect.signature(settings).parameters:
            return dict(settings(noise_rate, asymmetric, epochs=epochs))
        return dict(settings(noise_rate, asymmetric))


def _resolve(ref: str):
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), attr)


#: method name -> entry: the one list of training methods (CLI choices, benchmarks, __all__).
METHODS: dict[str, MethodEntry] = {
    "standard": MethodEntry("standard:fit", options=("loss",), distributed=True),
    "mixup": MethodEntry("mixup:fit", options=("loss",)),
    "coteaching": MethodEntry("coteaching:fit", options=("forget_rate",),
                              noise_settings="coteaching:paper_settings", distributed=True),
    "elr": MethodEntry("elr:fit", noise_settings="elr:paper_settings", distributed=True),
    "elr-plus": MethodEntry("elr:fit_plus", noise_settings="elr:paper_settings_plus"),
    "dividemix": MethodEntry("dividemix:fit", options=("lambda_u", "warmup_epochs", "forget_rate"),
                             noise_settings="dividemix:paper_settings", distributed=True,
                             estimates_forget_rate=True),
    "cpc": MethodEntry("cpc:fit", options=("lambda_u", "warmup_epochs", "forget_rate"),
                       noise_settings="cpc:paper_settings", estimates_forget_rate=True),
    "proden": MethodEntry("proden:fit", candidates=True),
    "coreg": MethodEntry("coreg:fit", candidates=True, options=("warmup_epochs",)),
    "rdcr": MethodEntry("rdcr:fit"),
    "forward": MethodEntry("forward:fit", options=("warmup_epochs", "noise_matrix"),
                           distributed=True),
    "truncated-gce": MethodEntry("truncated_gce:fit"),
    "complementary": MethodEntry("complementary:fit", candidates=True),
    "ill": MethodEntry("ill:fit", options=("strong_augment",)),
    "ill-partial": MethodEntry("ill:fit_partial", candidates=True, options=("strong_augment",)),
}


#: the ``forget_rate`` of the methods built on DivideMix that estimates the noise rate by
#: cross-validation with the warm-up's settings and divides by rank at it
#: (:meth:`labelnoise.training.dividemix.DivideMix.estimate_noise_rate`); the methods that
#: take it (derived from :data:`METHODS`)
ESTIMATE_FORGET_RATE = "estimate"
FORGET_RATE_ESTIMATORS = tuple(name for name, entry in METHODS.items()
                               if entry.estimates_forget_rate)


def get(name: str):
    """The ``fit`` function of the method ``name`` (a key of :data:`METHODS`).

    Raises:
        ValueError: unknown name.
    """
    if name not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {name!r}")
    return METHODS[name].load()


_MODULES = ("engine", "data", "distributed",
            *dict.fromkeys(entry.module for entry in METHODS.values()))
#: names defined in a submodule, imported (with torch) on first use
_LAZY = {"fit_dataset": "data", "TrainResult": "data", "load_run": "data"}
__all__ = ["METHODS", "MethodEntry", "get", *_LAZY, *_MODULES]


def __getattr__(name: str):
    # `labelnoise.training.standard` etc. after a bare `import labelnoise.training`
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
