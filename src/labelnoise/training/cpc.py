"""CPC, the Class Prototype-based label noise Cleaner (Huang, Chen, Feng & Wu 2022, "Class
Prototype-based Cleaner for Label Noise Learning", arXiv 2212.10766), on DivideMix.

DivideMix (:mod:`labelnoise.training.dividemix`) divides the training set into a labeled
(clean) and an unlabeled (noisy) part with ONE two-component Gaussian mixture on the
per-example losses of all classes together. CPC's point is that this division is class
agnostic: it assumes that clean and noisy losses are distributed alike in every class, which
fails when the classes differ in difficulty (the clean losses of a hard class can lie where
the noisy losses of an easy class lie). CPC applies a class-aware modulation to the
division, combines loss-distribution modelling with intra-class consistency in feature space
through class prototypes, and reads the whole as expectation-maximisation.

Source, and what could not be checked. Only the paper's abstract and the first lines of its
introduction could be read here (the stored copies of the full text return the beginning of
the page only), and its code (github.com/hjjpku/CPC) is not available. What the abstract
states, and this module implements: (a) the loss distributions are modelled per class (the
class-aware modulation of the clean/noisy partition); (b) class prototypes and an
intra-class consistency regularisation in feature space; (c) both together, explained as EM;
(d) inside the semi-supervised (DivideMix) training. The equations are therefore written
here from those statements; their labels CPC-1 to CPC-5 are this module's, NOT the paper's
equation numbers, and the values marked "our choice" are not the paper's.

Every epoch after the warm-up, for each network (its features ``f(x)`` are the input of its
final linear layer, taken with :class:`labelnoise.training.rdcr.HeadedNet`; eval mode, no
augmentation, all N examples):

* CPC-1, class-aware loss modelling (:func:`class_aware_clean_probability`): the per-example
  cross entropy against the given label, min-max scaled and averaged over the last
  ``loss_history`` epochs as DivideMix does, is modelled by one two-component 1-D GMM PER
  CLASS (the examples whose given label is k; losses rescaled to [0, 1] within the class),
  ``w_loss_i`` = the posterior of the lower-mean component of class ``y_i``'s mixture
  (DivideMix's eq. 1, :func:`labelnoise.training.dividemix.clean_probability`, per class).
  A class with fewer than ``min_class_size`` examples uses the class-agnostic mixture;
* CPC-2, class prototypes (:func:`class_prototypes`): with ``z_i = f(x_i) / ||f(x_i)||``,
  ``c_k = normalise(sum_{i: y_i = k} w_loss_i z_i)``, the weighted mean direction of the
  class's likely-clean examples (the M-step estimate of the mean directions of a von
  Mises-Fisher mixture with responsibilities ``w_loss``);
* CPC-3, prototype posterior of the given label: ``q_i = exp(z_i . c_{y_i} / tau) /
  sum_k exp(z_i . c_k / tau)`` (the E-step posterior of class ``y_i`` under that mixture,
  concentration ``1 / tau``, equal priors), each example left out of its own prototype:
  :func:`labelnoise.data_issues.prototype_label_quality`, the same function as the
  detection score on features;
* CPC-4, the clean probability: ``w_i = (1 - beta) w_loss_i + beta q_i`` (``beta`` =
  ``prototype_mix``; our choice: the paper's way of combining the two was not readable);
  ``w_i > p_threshold`` puts example i in the labeled set. As in DivideMix each network
  trains on the division of its PEER (co-divide);
* CPC-5, intra-class consistency (:meth:`CPC.regulariser`): in DivideMix's MixMatch step of
  network j, the labeled rows of the mixed batch also pay ``lambda_p * L_proto``, with
  ``L_proto = -mean_rows sum_k t_k log softmax_k(z . c^(j) / tau)``, the soft cross entropy
  between the prototype posterior of the mixed example's feature ``z`` and its mixed target
  ``t``: it pulls each clean example's feature towards its class prototype and away from
  the others. Total: ``L_x + lambda_u L_u + L_reg + lambda_p L_proto`` (DivideMix's three
  terms unchanged). The prototypes ``c^(j)`` of network j are those of CPC-2 in its own
  feature space, fixed during the epoch; a class with no example has the zero prototype
  (cosine 0, logit 0).

The EM reading: the E-step is CPC-1 to CPC-4 with the networks fixed (the posterior that each
label is clean, from its loss within its class and from its feature's place among the class
prototypes); the M-step is CPC-2 for the prototypes and one epoch of SGD on the total loss
for the networks. Test predictions average the two networks' logits (as DivideMix).

Defaults. The training protocol is DivideMix's for CIFAR-10 (assumed: CPC is presented as a
cleaner inside DivideMix-style semi-supervised training): PreAct ResNet-18, 300 epochs with
10 warm-up epochs, SGD lr 0.02 (momentum 0.9, weight decay 5e-4) divided by 10 at epoch 150,
batch 64, alpha 4, T 0.5, p_threshold 0.5, lambda_u by noise rate
(:func:`paper_settings`). Our choices, for the prototype terms the paper's values of which
could not be read: ``prototype_temperature`` 0.1 (the usual prototype / contrastive
temperature, e.g. PCL, PiCO), ``prototype_weight`` (lambda_p) 1.0, ``prototype_mix`` (beta)
0.5, ``min_class_size`` 10. Images use the engine's crop + flip as DivideMix here; embeddings
(``model="mlp"``) have identical views and only mixup augments. Single process only (no DDP).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from labelnoise._validation import check_int, check_real, validate_labels
from labelnoise.data_issues import prototype_label_quality
from labelnoise.training import dividemix, engine
from labelnoise.training.dividemix import DivideMix, clean_probability
from labelnoise.training.rdcr import HeadedNet


# ------------------------------------------------------------------------------ the cleaner
def class_aware_clean_probability(losses, labels, *, num_classes: int | None = None,
                                  min_class_size: int = 10, seed: int = 0,
                                  reg_covar: float = 5e-4, max_iter: int = 10,
                                  tol: float = 1e-2) -> np.ndarray:
    """Probability that each label is clean from its loss, modelled per class (CPC-1).

    For every class k with at least ``min_class_size`` examples, a two-component 1-D
    Gaussian mixture is fitted to the losses of the examples labelled k (rescaled to [0, 1]
    within the class) and each of them gets the posterior of the lower-mean component
    (DivideMix's :func:`~labelnoise.training.dividemix.clean_probability` on the class).
    Smaller classes get the posterior of one class-agnostic mixture over all examples
    (DivideMix's division). A class whose losses are all equal gets 1.

    Unlike one mixture over all classes, this follows class-dependent loss levels: when a
    hard class's clean losses lie where an easy class's noisy losses lie, the class-agnostic
    mixture calls one of the two groups wrong; the per-class mixtures call both right
    (``tests/test_cpc.py``).

    Args:
        losses: float (N,) per-example losses (e.g. cross entropy against the given labels).
        labels: int (N,) given labels in [0, K).
        num_classes: K (default ``max(labels) + 1``).
        min_class_size: the fewest examples for a class's own mixture (>= 2).
        seed: random_state of every mixture's initialisation.
        reg_covar, max_iter, tol: EM settings (DivideMix: 5e-4, 10, 1e-2; sklearn's
            ConvergenceWarning of the short EM is silenced).

    Returns:
        float64 ndarray (N,) in [0, 1].

    Raises:
        ValueError: losses not 1-D with at least 2 finite values; labels invalid or of
            another length; min_class_size not an integer >= 2.
    """
    loss = np.asarray(losses, dtype=np.float64)
    if loss.ndim != 1 or loss.shape[0] < 2:
        raise ValueError(f"losses must be 1-D with at least 2 values, got shape {loss.shape}")
    if not np.isfinite(loss).all():
        raise ValueError("losses contains NaN or infinite values")
    y = validate_labels(labels, num_classes=num_classes)
    if y.size != loss.size:
        raise ValueError(f"labels has {y.size} entries but losses has {loss.size}")
    if (isinstance(min_class_size, (bool, np.bool_))
            or not isinstance(min_class_size, (int, np.integer)) or min_class_size < 2):
        raise ValueError(f"min_class_size must be an integer >= 2, got {min_class_size!r}")
    from sklearn.exceptions import ConvergenceWarning

    gmm = dict(seed=seed, reg_covar=reg_covar, max_iter=max_iter, tol=tol)
    counts = np.bincount(y)
    out = np.empty_like(loss)
    small = counts[y] < min_class_size
    # DivideMix's 10 EM iterations are a setting, not a failure: K mixtures an epoch would
    # otherwise repeat sklearn's ConvergenceWarning K times
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if small.any():
            out[small] = clean_probability(loss, **gmm)[small]
        for k in np.flatnonzero(counts >= min_class_size):
            idx = np.flatnonzero(y == k)
            out[idx] = clean_probability(loss[idx], **gmm)
    return out


def class_prototypes(features: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                     num_classes: int) -> torch.Tensor:
    """Class prototypes (CPC-2): the weighted mean direction of each class's features.

    ``c_k = normalise(sum_{i: y_i = k} w_i z_i)`` with ``z_i = f_i / ||f_i||``; a class whose
    weights sum to 0 gets its unweighted mean direction, a class with no example the zero
    vector. The same prototypes as :func:`labelnoise.data_issues.prototype_label_quality`
    (without its leave-one-out).

    Args:
        features: float (N, D) tensor.
        labels: int64 (N,) tensor in [0, K), on the same device.
        weights: float (N,) tensor >= 0 (e.g. clean probabilities), on the same device.
        num_classes: K.

    Returns:
        float32 (K, D) tensor of unit (or zero) rows, on the features' device.
    """
    z = F.normalize(features.float(), dim=1)
    w = weights.float().to(z.device)
    totals = torch.zeros(num_classes, device=z.device).index_add_(0, labels, w)
    w = torch.where(totals[labels] > 0, w, torch.ones_like(w))
    sums = torch.zeros(num_classes, z.shape[1], device=z.device)
    sums.index_add_(0, labels, z * w[:, None])
    return F.normalize(sums, dim=1)


def paper_settings(noise_rate: float, asymmetric: bool) -> dict:
    """The settings that depend on the noise: DivideMix's (``lambda_u`` 0 up to 25% noise
    and for asymmetric noise, 25 up to 85%, else 50; the warm-up confidence penalty for
    asymmetric noise; :func:`labelnoise.training.dividemix.paper_settings`), which CPC is
    assumed to keep (see the module docstring). Used by ``labelnoise train`` and the
    benchmarks when no ``--lambda-u`` is given."""
    return dividemix.paper_settings(noise_rate, asymmetric)


# ------------------------------------------------------------------------------ the method
@torch.no_grad()
def _logits_and_features(net: HeadedNet, x: torch.Tensor, batch_size: int = 1024):
    """float32 logits (N, K) and features (N, D) of ``net`` in eval mode (mode restored)."""
    was_training = net.training
    net.eval()
    logits, feats = [], []
    try:
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            if xb.ndim == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with engine.autocast(x.device):
                out, _, f = net.forward_all(xb)
            logits.append(out.float())
            feats.append(f.float().flatten(1))
    finally:
        net.train(was_training)
    return torch.cat(logits), torch.cat(feats)


def _auroc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve of ``score`` for the bool ``positive`` (None if one class)."""
    from sklearn.metrics import roc_auc_score

    if positive.all() or not positive.any():
        return None
    return float(roc_auc_score(positive, score))


@dataclass
class CPC(DivideMix):
    """CPC on DivideMix's two networks (hyperparameters: see :func:`fit`).

    Inherits DivideMix's warm-up, co-divide loop and MixMatch step; overrides the division
    (:meth:`co_divide`: CPC-1 to CPC-4) and adds the intra-class consistency term
    (:meth:`regulariser`: CPC-5). The prototypes are recomputed from the networks at the
    start of every epoch, so the checkpoint (networks, optimizers, past losses) is all an
    exact resume needs.
    """

    name = "cpc"
    distributed = False
    prototype_temperature: float = 0.1
    prototype_weight: float = 1.0
    prototype_mix: float = 0.5
    min_class_size: int = 10

    def __post_init__(self):
        super().__post_init__()
        self.prototype_temperature = check_real(self.prototype_temperature,
                                                "prototype_temperature", low=0, strict=True)
        self.prototype_weight = check_real(self.prototype_weight, "prototype_weight", low=0)
        self.prototype_mix = check_real(self.prototype_mix, "prototype_mix", low=0, high=1,
                                        high_inclusive=True)
        self.min_class_size = check_int(self.min_class_size, "min_class_size", 2)

    def setup(self, data):
        super().setup(data)
        # the same networks (and parameters: the optimizers stay valid), with their features
        self.nets = [HeadedNet(net) for net in self.nets]
        self.ensemble = engine.Ensemble(self.nets)
        self.prototypes: list[torch.Tensor | None] = [None, None]
        self._diag: dict = {}
        self._proto_loss: list[torch.Tensor] = []

    def co_divide(self, epoch):
        """CPC-1 to CPC-4 for each network: its clean probabilities (float64 (N,) each),
        and its prototypes (``self.prototypes``) for CPC-5."""
        data, k = self.data, self.data.num_classes
        y = data.y.cpu().numpy()
        probs, diag = [], {}
        for i, net in enumerate(self.nets):
            logits, feats = _logits_and_features(net, data.x)
            loss = F.cross_entropy(logits, data.y, reduction="none").cpu().numpy()
            scaled = (loss - loss.min()) / max(np.ptp(loss), 1e-12)
            self.past_losses[i] = (self.past_losses[i] + [scaled])[-self.loss_history:]
            w_loss = class_aware_clean_probability(
                np.mean(self.past_losses[i], axis=0), y, num_classes=k,
                min_class_size=self.min_class_size, seed=self.seed + epoch)
            q = prototype_label_quality(feats.cpu().numpy(), y, num_classes=k, weights=w_loss,
                                        temperature=self.prototype_temperature)
            self.prototypes[i] = class_prototypes(
                feats, data.y, torch.from_numpy(w_loss).to(feats.device), k)
            probs.append((1 - self.prototype_mix) * w_loss + self.prototype_mix * q)
            if i == 0 and self.clean is not None:  # how well each signal ranks clean labels
                diag = {"loss_auroc": _auroc(w_loss, self.clean),
                        "prototype_auroc": _auroc(q, self.clean),
                        "clean_auroc": _auroc(probs[0], self.clean)}
        self._diag = diag
        return probs

    def regulariser(self, i, logits, mixed_target, n_labeled):
        """CPC-5: ``prototype_weight`` times the soft cross entropy between the prototype
        posterior of the labeled mixed rows' features and their mixed targets."""
        if self.prototype_weight == 0 or n_labeled == 0:
            return None
        feats = self.nets[i]._tap().features[:n_labeled].float()  # the mixed batch's features
        z = F.normalize(feats.flatten(1), dim=1)
        log_post = F.log_softmax(z @ self.prototypes[i].T / self.prototype_temperature, dim=1)
        loss = -(mixed_target[:n_labeled] * log_post).sum(1).mean()
        self._proto_loss.append(loss.detach())
        return self.prototype_weight * loss

    def train_epoch(self, epoch):
        self._diag, self._proto_loss = {}, []
        record = super().train_epoch(epoch)
        if self._proto_loss:
            record["proto_loss"] = float(torch.stack(self._proto_loss).mean())
        record.update(self._diag)
        return record


def fit(images, labels, *, model="preact-resnet18", epochs: int = 300,
        warmup_epochs: int = 10, batch_size: int = 64, warmup_batch_size: int | None = None,
        lr: float = 0.02, weight_decay: float = 5e-4, momentum: float = 0.9,
        lr_decay_epoch: float | None = None, alpha: float = 4.0, lambda_u: float = 25.0,
        p_threshold: float = 0.5, temperature: float = 0.5, rampup_length: float = 16.0,
        conf_penalty: bool = False, loss_history: int = 1,
        prototype_temperature: float = 0.1, prototype_weight: float = 1.0,
        prototype_mix: float = 0.5, min_class_size: int = 10, augment: bool = True,
        seed: int = 0, device=None, test_images=None, test_labels=None, checkpoint_dir=None,
        resume: bool = False, progress: bool = True, num_classes: int | None = None,
        true_labels=None, model_kwargs: dict | None = None,
        forget_rate: float | str | None = None, on_epoch=None) -> engine.FitResult:
    """Train two networks with CPC (class-aware, prototype-based division inside DivideMix;
    see the module docstring for equations CPC-1 to CPC-5 and the sources of the defaults).

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given (noisy) labels in [0, K).
        model: backbone of both networks (seeds ``seed``, ``seed + 1``); its penultimate
            layer (the input of its final linear layer) gives the prototype features.
        prototype_temperature: tau of CPC-3 and CPC-5 (> 0; our choice 0.1).
        prototype_weight: lambda_p, the weight of the intra-class consistency term CPC-5
            (>= 0; 0 turns it off; our choice 1.0).
        prototype_mix: beta of CPC-4, the weight of the prototype posterior in the clean
            probability (in [0, 1]; 0: the class-aware loss mixture alone; our choice 0.5).
        min_class_size: the fewest examples of a class for its own loss mixture (CPC-1);
            smaller classes use the class-agnostic one (>= 2; our choice 10).
        true_labels: optional int (N,) clean labels (diagnostics only, never trained on);
            the history then also records the engine's memorisation diagnostic,
            ``split_precision`` / ``split_recall`` (as DivideMix) and the AUROC with which
            network 1's ``loss_auroc`` (CPC-1), ``prototype_auroc`` (CPC-3) and
            ``clean_auroc`` (CPC-4) rank the clean labels above the wrong ones.
        Other arguments: as :func:`labelnoise.training.dividemix.fit` (DivideMix's CIFAR-10
            defaults: 300 epochs, 10 warm-up epochs, batch 64, SGD lr 0.02, weight decay
            5e-4, momentum 0.9, lr / 10 at ``lr_decay_epoch`` (default ``epochs / 2``),
            alpha 4, T 0.5, p_threshold 0.5, lambda_u 25 (:func:`paper_settings` by noise));
            ``forget_rate`` (our option: a fraction, or ``"estimate"`` for the noise rate
            estimated by 2-fold cross-validation before the warm-up) divides by rank as there
            (:func:`labelnoise.training.dividemix.labeled_mask`), CPC-4's ``w_i`` ranked.

    Returns:
        :class:`~labelnoise.training.engine.FitResult`: ``model`` is the
        :class:`~labelnoise.training.engine.Ensemble` of both networks (mean logits),
        ``models`` the two networks (:class:`~labelnoise.training.rdcr.HeadedNet`, which
        return logits). After the warm-up the history has ``labeled_fraction`` (network 1's
        division) and ``proto_loss`` (the epoch's mean CPC-5 term, before its weight).

    Raises:
        ValueError: a hyperparameter out of range (the message names it); bad data (see
            :func:`~labelnoise.training.engine.prepare_data`); true_labels of the wrong
            length; bad resume.
    """
    method = CPC(model=model, epochs=epochs, warmup_epochs=warmup_epochs,
                 batch_size=batch_size, warmup_batch_size=warmup_batch_size, lr=lr,
                 weight_decay=weight_decay, momentum=momentum, lr_decay_epoch=lr_decay_epoch,
                 alpha=alpha, lambda_u=lambda_u, p_threshold=p_threshold,
                 temperature=temperature, rampup_length=rampup_length,
                 conf_penalty=conf_penalty, loss_history=loss_history, augment=augment,
                 seed=seed, model_kwargs=model_kwargs, true_labels=true_labels,
                 prototype_temperature=prototype_temperature,
                 prototype_weight=prototype_weight, prototype_mix=prototype_mix,
                 min_class_size=min_class_size, forget_rate=forget_rate)
    return engine.run_on_labels(method, images, labels, num_classes=num_classes,
                                test_images=test_images, test_labels=test_labels, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                                on_epoch=on_epoch)
