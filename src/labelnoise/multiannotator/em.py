"""Dawid-Skene and its model-aware extension: the EM machinery (see the package docstring)."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy import optimize
from scipy.special import gammaln

from labelnoise._validation import (
    chunk_rows,
)
from labelnoise.multiannotator.annotations import (
    Annotations,
    _overlapping_annotators,
    _subset_examples,
)
from labelnoise.multiannotator.constants import (
    EB_MAX_STRENGTH,
    FALLBACK_Z,
    LOO_MAX_ELEMENTS,
    MAX_CROWD_WEIGHT,
    MIN_TRUSTED,
)


# --------------------------------------------------------------------------- EM machinery
def _smoothed_confusions(counts: np.ndarray, prior_strength: float) -> np.ndarray:
    """MAP confusion matrices (M, K, K) [given, true] from soft counts of the same shape.

    Column j of annotator m has a Dirichlet prior with mean the pooled (all annotators,
    +1 smoothed) column j and ``prior_strength`` pseudo-labels.
    """
    pooled = counts.sum(axis=0) + 1.0
    pooled /= pooled.sum(axis=0, keepdims=True)
    num = counts + prior_strength * pooled[None]
    return num / num.sum(axis=1, keepdims=True)


def _estep(design: sp.csr_matrix, log_conf_rows: np.ndarray, log_prior, out: np.ndarray) -> float:
    """Posterior over the true class into ``out`` (N, K); returns the log marginal likelihood.

    ``log_conf_rows[m*K + l, k] = log P(annotator m says l | true k)``; ``log_prior`` is (K,)
    or (N, K).
    """
    n, k = out.shape
    total = 0.0
    step = chunk_rows(k, 1 << 21)
    for a in range(0, n, step):
        b = min(n, a + step)
        block = design[a:b] @ log_conf_rows
        block += log_prior if log_prior.ndim == 1 else log_prior[a:b]
        mx = block.max(axis=1, keepdims=True)
        block -= mx
        np.exp(block, out=block)
        z = block.sum(axis=1, keepdims=True)
        block /= z
        out[a:b] = block
        total += float(np.log(z).sum() + mx.sum())
    return total


def _calibrate(log_probs: np.ndarray, posterior: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Fit [inverse_temperature, bias_0..bias_{K-1}] maximising
    sum_n sum_k posterior[n, k] * log softmax_k(inverse_temperature * log_probs[n, k] + bias_k).
    """
    target_sum = posterior.sum(axis=0)
    target_dot = float((posterior * log_probs).sum())

    def neg_q(theta):
        t, bias = theta[0], theta[1:]
        logits = t * log_probs + bias
        mx = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - mx)
        z = e.sum(axis=1, keepdims=True)
        e /= z
        lse = np.log(z[:, 0]) + mx[:, 0]
        q = t * target_dot + bias @ target_sum - lse.sum()
        grad_t = target_dot - float((e * log_probs).sum())
        grad_b = target_sum - e.sum(axis=0)
        return -q, -np.r_[grad_t, grad_b]

    bounds = [(0.0, None)] + [(None, None)] * (log_probs.shape[1])
    res = optimize.minimize(neg_q, start, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 50})
    return res.x


def _model_log_prior(log_probs: np.ndarray, theta: np.ndarray) -> np.ndarray:
    logits = theta[0] * log_probs + theta[1:]
    logits -= logits.max(axis=1, keepdims=True)
    logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return logits


def _eb_prior_strength(counts: np.ndarray, current: float) -> float:
    """Empirical-Bayes prior strength: maximise the Dirichlet-multinomial marginal likelihood
    of (a subsample of at most 100 annotators') soft confusion counts over log(strength)."""
    m = counts.shape[0]
    sub = counts[np.unique(np.linspace(0, m - 1, min(m, 100)).astype(np.int64))]
    pooled = counts.sum(axis=0) + 1.0
    pooled /= pooled.sum(axis=0, keepdims=True)
    col = sub.sum(axis=1)  # (m', K) labels per (annotator, true class)

    def neg(log_s):
        s = math.exp(log_s)
        a = s * pooled[None]
        return -((gammaln(s) - gammaln(s + col)).sum() + (gammaln(a + sub) - gammaln(a)).sum())

    res = optimize.minimize_scalar(neg, bounds=(0.0, math.log(EB_MAX_STRENGTH)), method="bounded",
                                   options={"xatol": 0.05})
    return float(math.exp(res.x)) if res.success else current


def _dawid_skene(ann: Annotations, *, prior_strength, max_iter: int, tol: float,
                 progress: bool):
    """Dawid-Skene EM from the soft majority vote; returns (posterior, confusions, prior,
    n_iter, converged, prior_strength used)."""
    n, m, k = ann.n_examples, ann.n_annotators, ann.num_classes
    design = ann.design_matrix()
    design_t = design.T.tocsr()
    post = ann.vote_counts().toarray()
    post /= post.sum(axis=1, keepdims=True)

    def statistics():
        return np.asarray(design_t @ post).reshape(m, k, k), post.sum(axis=0)

    def estep(log_conf_rows, log_prior):
        return _estep(design, log_conf_rows, log_prior, post)

    conf, prior, it, converged, strength = _dawid_skene_em(
        n, m, k, statistics, estep, prior_strength=prior_strength, max_iter=max_iter, tol=tol,
        progress=progress)
    return post, conf, prior, it, converged, strength


def _dawid_skene_em(n: int, m: int, k: int, statistics, estep, *, prior_strength,
                    max_iter: int, tol: float, progress: bool):
    """The Dawid-Skene EM loop, shared by the in-memory path and the Dask path
    (:mod:`labelnoise.multiannotator.dask_consensus`), which differ only in where the
    posterior lives.

    ``statistics()`` returns the M-step's sufficient statistics of the current posterior:
    the soft confusion counts, float64 (M, K, K) [given, true], and the posterior's column
    sums, float64 (K,) (first call: of the soft majority vote). ``estep(log_conf_rows,
    log_prior)`` replaces the posterior by the E-step's (``log_conf_rows`` (M*K, K),
    ``log_prior`` (K,)) and returns the log marginal likelihood. Returns (confusions,
    prior, n_iter, converged, prior_strength used).

    A class that no annotator ever gave keeps prior (and posterior) 0: with annotators
    better than chance (the assumption that makes the model identifiable) it has no
    example, and its +1-smoothed prior would otherwise let EM drift to the degenerate
    optimum where every true class emits the labels seen (all labels 0 with K = 2: every
    annotator's accuracy read as 0.5). The first ``statistics()`` call's posterior is the
    majority vote, so its zero column sums are exactly those classes."""
    auto = prior_strength == "auto"
    strength = 1.0 if auto else float(prior_strength)
    em = _EMProgress(progress, max_iter, "Dawid-Skene EM")
    ll_old = -np.inf
    it = 0
    seen = None
    for it in range(1, max_iter + 1):
        # M-step: MAP confusion matrices and class prior
        counts, class_sums = statistics()
        if seen is None:
            seen = class_sums > 0
        if auto and (it & (it - 1)) == 0:  # re-estimate at iterations 1, 2, 4, 8, ...
            strength = _eb_prior_strength(counts, strength)
        conf = _smoothed_confusions(counts, strength)
        prior = np.where(seen, class_sums + 1.0, 0.0) / (n + int(seen.sum()))
        # E-step
        with np.errstate(divide="ignore"):  # log(0) = -inf for the classes never given
            log_prior = np.log(prior)
        ll = estep(np.log(conf).reshape(m * k, k), log_prior)
        if em.stop(abs(ll - ll_old), tol * n, loglik=f"{ll / n:.6f}"):
            break
        ll_old = ll
    em.close()
    return conf, prior, it, em.converged, strength


def _model_aware(ann: Annotations, log_probs: np.ndarray, *, prior_strength, max_iter: int,
                 tol: float, progress: bool):
    """Co-calibrated Dawid-Skene with a classifier (see the module docstring)."""
    n, m, k = ann.n_examples, ann.n_annotators, ann.num_classes
    per_example = ann.labels_per_example()
    labelled = per_example > 0
    if labelled.all():
        _, conf, _, _, _, strength = _dawid_skene(ann, prior_strength=prior_strength,
                                                  max_iter=max_iter, tol=tol, progress=False)
    else:
        sub = _subset_examples(ann, labelled)
        _, conf, _, _, _, strength = _dawid_skene(sub, prior_strength=prior_strength,
                                                  max_iter=max_iter, tol=tol, progress=False)
    # 1. calibrate the model on examples whose annotators (>= 2) all agree
    votes = ann.vote_counts()
    top = np.asarray(votes.max(axis=1).todense()).ravel()
    trusted = (per_example >= 2) & (top == per_example)
    start = np.r_[1.0, np.zeros(k)]
    if trusted.sum() >= MIN_TRUSTED:
        target = np.asarray(votes[trusted].todense()) / per_example[trusted, None]
        theta = _calibrate(log_probs[trusted], target, start)
    else:  # too few unanimous examples: calibrate against the crowd-only posterior
        # on the examples that an annotator who shares examples with others labelled: an
        # annotator who never overlaps has a self-confirming crowd-only matrix, so
        # calibrating the model on their examples would only fit it to their own labels
        # (a lone annotator of true accuracy 0.64 came out at 0.91). With no such example
        # the model is used as given (pred_probs assumed calibrated).
        informed = np.bincount(ann.example, weights=_overlapping_annotators(ann)[ann.annotator],
                               minlength=n) > 0
        if informed.any():
            design = ann.design_matrix()
            crowd = np.empty((n, k))
            _estep(design, np.log(conf).reshape(m * k, k), np.zeros(k), crowd)
            theta = _calibrate(log_probs[informed], crowd[informed], start)
        else:
            theta = start
    log_prior = _model_log_prior(log_probs, theta)
    # 2. alternate: temper the crowd against the calibrated model, posterior, M-step
    design = ann.design_matrix()
    design_t = design.T.tocsr()
    multi = per_example[ann.example] >= 2
    weight = 1.0
    post = np.empty((n, k))
    em = _EMProgress(progress, max_iter, "model-aware EM")
    it = 0
    for it in range(1, max_iter + 1):
        crowd_ll = np.asarray(design @ np.log(conf).reshape(m * k, k))
        if (it & (it - 1)) == 0:  # re-fit at iterations 1, 2, 4, 8, ...
            weight = _fit_crowd_weight(ann, multi, conf, log_prior, crowd_ll)
        logits = log_prior + weight * crowd_ll
        logits -= logits.max(axis=1, keepdims=True)
        new = np.exp(logits)
        new /= new.sum(axis=1, keepdims=True)
        change = np.abs(new - post).sum(axis=1).mean() if it > 1 else np.inf
        post = new
        counts = np.asarray(design_t @ post).reshape(m, k, k)
        if prior_strength == "auto" and (it & (it - 1)) == 0:
            strength = _eb_prior_strength(counts, strength)
        conf = _smoothed_confusions(counts, strength)
        if em.stop(change, tol):
            break
    em.close()
    # 3. model check: keep the model only if it predicts held-out annotations better than
    #    the crowd alone (leave-one-annotation-out log-likelihood, examples with >= 2 labels)
    ds_post, ds_conf, ds_prior, ds_it, ds_conv, ds_strength = _dawid_skene(
        ann if labelled.all() else _subset_examples(ann, labelled), prior_strength=prior_strength,
        max_iter=max_iter, tol=tol, progress=False)
    loo_model = _loo_loglik(ann, multi, conf, log_prior, weight)
    loo_crowd = _loo_loglik(ann, multi, ds_conf, np.log(ds_prior), 1.0)
    diff = loo_model - loo_crowd
    # drop the model only if the crowd alone is better by more than FALLBACK_Z standard
    # errors (paired over annotations): on a tie (e.g. a crowd of random guessers, where
    # nothing predicts held-out annotations) the model is kept
    crowd_better = bool(diff.size > 1 and diff.mean() < -FALLBACK_Z * diff.std(ddof=1)
                        / math.sqrt(diff.size))
    # with unlabelled examples the model-aware result is always kept (only the model can
    # decide those), so "model_used" is True there too
    calibration = {"inverse_temperature": float(theta[0]), "bias": theta[1:].copy(),
                   "crowd_weight": float(weight), "trusted_examples": int(trusted.sum()),
                   "prior_strength": strength,
                   "model_used": not crowd_better or not bool(labelled.all()),
                   "heldout_loglik_model": float(loo_model.mean()) if diff.size else 0.0,
                   "heldout_loglik_crowd": float(loo_crowd.mean()) if diff.size else 0.0}
    if not calibration["model_used"]:
        return ds_post, ds_conf, ds_prior, ds_it, ds_conv, calibration
    return post, conf, post.mean(axis=0), it, em.converged, calibration


def _fit_crowd_weight(ann: Annotations, mask: np.ndarray, conf: np.ndarray,
                      log_prior: np.ndarray, crowd_ll: np.ndarray) -> float:
    """Crowd weight w in [0, MAX_CROWD_WEIGHT] maximising the held-out annotation likelihood.

    For each annotation (n, m, l) in ``mask`` (examples with >= 2 labels), the true class is
    predicted without it, ``q ∝ P(true | x_n) * prod_{m' != m} P(label_nm' | true)**w``, and
    scored by ``log sum_k q_k P(annotator m says l | true k)``. ``w = 0`` is the calibrated
    model alone, so the crowd only gets weight where it predicts annotations it has not
    seen better than the model does. At most ``LOO_MAX_ELEMENTS / K`` annotations (an evenly
    spaced subset) enter the fit.
    """
    m, k = ann.n_annotators, ann.num_classes
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return 1.0
    cap = max(1, LOO_MAX_ELEMENTS // k)
    if idx.size > cap:
        idx = idx[np.linspace(0, idx.size - 1, cap).astype(np.int64)]
    log_rows = np.log(conf).reshape(m * k, k)
    ex, row = ann.example[idx], ann.annotator[idx] * k + ann.label[idx]
    base = log_prior[ex]
    others = crowd_ll[ex] - log_rows[row]
    said = np.exp(log_rows[row])

    def neg_loglik(w: float) -> float:
        logits = base + w * others
        logits -= logits.max(axis=1, keepdims=True)
        q = np.exp(logits)
        return -float(np.log((q * said).sum(axis=1) / q.sum(axis=1)).mean())

    res = optimize.minimize_scalar(neg_loglik, bounds=(0.0, MAX_CROWD_WEIGHT), method="bounded",
                                   options={"xatol": 1e-3})
    return float(res.x) if res.fun <= neg_loglik(0.0) else 0.0


def _loo_loglik(ann: Annotations, mask: np.ndarray, conf: np.ndarray, log_prior: np.ndarray,
                weight: float) -> np.ndarray:
    """log P(annotation | the example's other annotations [and the model]) of each
    annotation in ``mask`` (float64, (mask.sum(),)): the posterior without that annotation,
    pushed through the annotator's confusion matrix."""
    m, k = ann.n_annotators, ann.num_classes
    log_rows = np.log(conf).reshape(m * k, k)
    crowd_ll = np.asarray(ann.design_matrix() @ log_rows)
    idx = np.flatnonzero(mask)
    out = np.empty(idx.shape[0])
    step = chunk_rows(k, 1 << 21)
    for a in range(0, idx.shape[0], step):
        i = idx[a:a + step]
        ex, row = ann.example[i], ann.annotator[i] * k + ann.label[i]
        lp = log_prior if log_prior.ndim == 1 else log_prior[ex]
        logits = lp + weight * (crowd_ll[ex] - log_rows[row])
        logits -= logits.max(axis=1, keepdims=True)
        q = np.exp(logits)
        q /= q.sum(axis=1, keepdims=True)
        out[a:a + step] = np.log((q * np.exp(log_rows[row])).sum(axis=1))
    return out


class _EMProgress:
    """The tail shared by the EM loops of this package: a tqdm progress bar (when
    ``enabled``) and the stopping test ``change <= limit``; ``converged`` says whether the
    last test passed (the loops stop there)."""

    def __init__(self, enabled: bool, total: int, desc: str):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False)
        self.converged = False

    def stop(self, change: float, limit: float, **postfix) -> bool:
        if self.bar is not None:
            self.bar.update(1)
            if postfix:
                self.bar.set_postfix(**postfix)
        self.converged = bool(change <= limit)
        return self.converged

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
