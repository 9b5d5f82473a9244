"""GLAD (Whitehill et al. 2009): annotator ability times example difficulty."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize
from scipy.special import expit, log_expit

from labelnoise.multiannotator.annotations import Annotations
from labelnoise.multiannotator.em import _EMProgress, _smoothed_confusions


# --------------------------------------------------------------------------- GLAD
def _glad(ann: Annotations, *, max_iter: int, tol: float, progress: bool):
    n, m, k = ann.n_examples, ann.n_annotators, ann.num_classes
    ex, an, lab = ann.example, ann.annotator, ann.label
    post = ann.vote_counts().toarray()
    post /= post.sum(axis=1, keepdims=True)
    alpha = np.ones(m)
    log_beta = np.zeros(n)
    log_km1 = math.log(k - 1)
    em = _EMProgress(progress, max_iter, "GLAD")
    ll_old = -np.inf
    it = 0
    for step in range(1, max_iter + 1):
        it = step
        # M-step: maximise E[log P(labels | alpha, beta)] + log Gaussian priors (sd 1)
        w = post[ex, lab]  # P(this label is correct)

        def neg_q(theta, w=w):
            a, lb = theta[:m], theta[m:]
            s = a[an] * np.exp(lb[ex])
            q = (w * log_expit(s) + (1 - w) * (log_expit(-s) - log_km1)).sum()
            q -= 0.5 * ((a - 1.0) ** 2).sum() + 0.5 * (lb**2).sum()
            g = w - expit(s)  # dq/ds
            ga = np.bincount(an, weights=g * np.exp(lb[ex]), minlength=m) - (a - 1.0)
            gb = np.bincount(ex, weights=g * s, minlength=n) - lb
            return -q, -np.r_[ga, gb]

        res = optimize.minimize(neg_q, np.r_[alpha, log_beta], jac=True, method="L-BFGS-B",
                                options={"maxiter": 25})
        alpha, log_beta = res.x[:m], res.x[m:]
        prior = (post.sum(axis=0) + 1.0) / (n + k)
        # E-step
        s = alpha[an] * np.exp(log_beta[ex])
        log_right, log_wrong = log_expit(s), log_expit(-s) - log_km1
        logp = np.tile(np.log(prior), (n, 1))
        np.add.at(logp, ex, log_wrong[:, None])
        np.add.at(logp, (ex, lab), log_right - log_wrong)
        mx = logp.max(axis=1, keepdims=True)
        post = np.exp(logp - mx)
        z = post.sum(axis=1, keepdims=True)
        post /= z
        ll = float(np.log(z).sum() + mx.sum())
        if em.stop(abs(ll - ll_old), tol * n):
            break
        ll_old = ll
    em.close()
    counts = np.asarray(ann.design_matrix().T @ post).reshape(m, k, k)
    conf = _smoothed_confusions(counts, 1.0)
    return post, conf, prior, it, em.converged
