"""RDCR (rotation + consistency) and Co-Reg (noisy partial labels)."""

import numpy as np
import pytest
import torch
from _data import colour_images

from labelnoise.training import coreg, engine, rdcr

torch.set_num_threads(1)
SMALL = {"widths": (8, 8, 8)}


def test_rotation_labels_match_rotated_images_and_rotate_back():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 3, 5, 5), generator=g, dtype=torch.uint8)
    k = torch.tensor([0, 1, 2, 3, 1, 2])
    r = rdcr.rotate(x, k)
    for i in range(6):
        assert torch.equal(r[i], torch.rot90(x[i], int(k[i]), dims=(1, 2)))
    assert torch.equal(rdcr.rotate(r, (4 - k) % 4), x)
    assert torch.equal(r[0], x[0]) and not torch.equal(r[1], x[1])
    allr, labels = rdcr.rotation_batch(x)
    assert allr.shape == (24, 3, 5, 5) and labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6 + [3] * 6
    back = rdcr.rotate(allr, (4 - labels) % 4)
    assert torch.equal(back, x.repeat(4, 1, 1, 1))
    # one 90-degree turn moves pixel (row i, col j) to (row W-1-j, col i)
    assert r[1, 0, 5 - 1 - 2, 0] == x[1, 0, 0, 2]
    with pytest.raises(ValueError, match="square"):
        rdcr.rotate(torch.zeros(1, 3, 4, 5), torch.tensor([1]))


def test_headed_net_features_feed_the_class_head():
    from labelnoise.models import build_model

    torch.manual_seed(0)
    net = rdcr.HeadedNet(build_model("resnet8", 3, **SMALL), {"rot": torch.nn.Linear(8, 4)})
    net.eval()
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    logits, heads, feats = net.forward_all(x)
    assert feats.shape == (4, 8) and heads["rot"].shape == (4, 4)
    tap = net.backbone.linear
    torch.testing.assert_close(logits, tap.linear(feats))
    torch.testing.assert_close(net(x), logits)


def test_rdcr_steps_lower_the_loss_and_teacher_follows_student():
    x, y = colour_images(mark=True)
    res = rdcr.fit(x, y, model="resnet8", epochs=4, batch_size=32, lr=0.05, seed=0,
                   rampup_epochs=2, progress=False, model_kwargs=SMALL)
    h = res.history
    assert h[-1]["ce"] < h[0]["ce"]
    # 8x8 blobs carry little orientation: the rotation loss stays near log 4 and only dips
    assert min(e["rotation_loss"] for e in h[1:]) < h[0]["rotation_loss"]
    teacher, student = res.models
    assert any(not torch.equal(a, b) for a, b in
               zip(teacher.parameters(), student.parameters()))


def test_rdcr_ema_decay_bounds():
    # start-up: an exact running average (1 - 1/(step + 1)); then the configured decay
    assert rdcr.ema_decay(0, 60_000, 0.999) == 0.0
    assert rdcr.ema_decay(3, 60_000, 0.999) == pytest.approx(0.75)
    assert rdcr.ema_decay(50_000, 60_000, 0.999) == pytest.approx(0.999)  # long run: untouched
    # a short run: the time constant is at most 10% of the run (250 steps -> 25 steps)
    assert rdcr.ema_decay(200, 250, 0.999) == pytest.approx(1 - 1 / 25)
    assert rdcr.ema_decay(200, 250, 0.999, horizon=1.0) == pytest.approx(1 - 1 / 201)


def test_rdcr_ema_update_averages_parameters_and_leaves_the_teachers_statistics():
    torch.manual_seed(0)
    student = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    teacher = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    student.train()(torch.randn(16, 3) * 5 + 2)  # the student's running statistics move
    before = [b.clone() for b in teacher.buffers()]
    want = [0.9 * pt + 0.1 * ps for pt, ps in zip(teacher.parameters(), student.parameters())]
    engine.ema_update(teacher, student, 0.9)
    for got, w in zip(teacher.parameters(), want):
        torch.testing.assert_close(got, w)
    # Mean Teacher's code averages parameters only: the BatchNorm statistics stay the
    # teacher's own (its train-mode forward passes update them), not the student's
    for got, b in zip(teacher.buffers(), before):
        assert torch.equal(got, b)
    assert not torch.equal(teacher[1].running_mean, student[1].running_mean)


def test_rdcr_teacher_keeps_its_own_batchnorm_statistics_in_training():
    x, y = colour_images(n=48, mark=True)
    res = rdcr.fit(x, y, model="resnet8", epochs=2, batch_size=16, lr=0.05, seed=0,
                   progress=False, model_kwargs=SMALL)
    teacher, student = res.models
    stats = [(name, b) for name, b in teacher.named_buffers() if name.endswith("running_mean")]
    own = dict(student.named_buffers())
    assert stats and any(not torch.equal(b, own[name]) for name, b in stats)
    assert all(b.abs().sum() > 0 for _, b in stats)  # updated by the teacher's forwards


def test_rdcr_resume_matches_uninterrupted(tmp_path):
    x, y = colour_images(n=48, mark=True)
    kw = dict(model="resnet8", epochs=2, batch_size=16, lr=0.05, seed=3, progress=False,
              model_kwargs=SMALL)
    full = rdcr.fit(x, y, **kw)

    class Stop(Exception):
        pass

    def interrupt(history):
        raise Stop

    with pytest.raises(Stop):
        rdcr.fit(x, y, checkpoint_dir=tmp_path, on_epoch=interrupt, **kw)
    resumed = rdcr.fit(x, y, checkpoint_dir=tmp_path, resume=True, **kw)
    for a, b in zip(full.models[0].state_dict().values(),
                    resumed.models[0].state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="other settings"):
        rdcr.fit(x, y, checkpoint_dir=tmp_path, resume=True, **{**kw, "lr": 0.1})


@pytest.mark.parametrize("method", ["proden", "coreg"])
def test_partial_label_methods_resume_matches_uninterrupted(tmp_path, method):
    from labelnoise.training import proden

    x, y = colour_images(n=48, mark=True)
    rng = np.random.default_rng(1)
    cand = np.zeros((48, 3), dtype=bool)
    cand[np.arange(48), y] = True
    cand[np.arange(48), rng.integers(0, 3, 48)] = True  # a second candidate on some rows
    kw = dict(model="resnet8", epochs=3, batch_size=16, lr=0.05, seed=3, progress=False,
              model_kwargs=SMALL)
    if method == "coreg":
        kw.update(warmup_epochs=1)
    fit = proden.fit if method == "proden" else coreg.fit
    full = fit(x, cand, **kw)

    class Stop(Exception):
        pass

    def interrupt(history):
        if len(history) == 2:  # after the first epoch past the warm-up for Co-Reg
            raise Stop

    with pytest.raises(Stop):
        fit(x, cand, checkpoint_dir=tmp_path, on_epoch=interrupt, **kw)
    resumed = fit(x, cand, checkpoint_dir=tmp_path, resume=True, **kw)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]


@pytest.mark.parametrize("method", ["proden", "coreg"])
def test_partial_label_resume_refuses_other_candidate_sets(tmp_path, method):
    """The candidate sets are the training labels of these methods: a resume with other
    sets (same first candidate, so the placeholder labels agree) is refused."""
    from labelnoise.training import proden

    x, y = colour_images(n=32, mark=True)
    cand = np.zeros((32, 3), dtype=bool)
    cand[np.arange(32), y] = True
    kw = dict(model="resnet8", epochs=2, batch_size=16, lr=0.05, seed=3, progress=False,
              model_kwargs=SMALL)
    if method == "coreg":
        kw.update(warmup_epochs=1)
    fit = proden.fit if method == "proden" else coreg.fit

    class Stop(Exception):
        pass

    def interrupt(history):
        raise Stop

    with pytest.raises(Stop):
        fit(x, cand, checkpoint_dir=tmp_path, on_epoch=interrupt, **kw)
    other = cand.copy()
    row = int(np.flatnonzero(y < 2)[0])
    other[row, 2] = True  # one more candidate after the first: argmax unchanged
    assert (np.argmax(other, axis=1) == np.argmax(cand, axis=1)).all()
    with pytest.raises(ValueError, match="candidates_sha1"):
        fit(x, other, checkpoint_dir=tmp_path, resume=True, **kw)
    resumed = fit(x, cand, checkpoint_dir=tmp_path, resume=True, **kw)  # same sets: fine
    assert len(resumed.history) == 2


def test_co_pseudo_labels_stay_inside_candidates():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(50, 6, generator=g) * 3, dim=1)
    cand = torch.rand(50, 6, generator=g) < 0.4
    cand[torch.arange(50), torch.randint(0, 6, (50,), generator=g)] = True
    probs[0] = torch.where(cand[0], 0.0, probs[0])  # peer puts no mass on the candidates
    probs[0] = probs[0] / probs[0].sum()
    pl = coreg.co_pseudo_labels(probs, cand)
    assert torch.all(pl[~cand] == 0)
    torch.testing.assert_close(pl.sum(1), torch.ones(50))
    torch.testing.assert_close(pl[0], cand[0].float() / cand[0].sum())
    # proportional to the peer's probabilities inside the set
    row = probs[1] * cand[1]
    torch.testing.assert_close(pl[1], row / row.sum())


def test_coreg_pieces():
    p = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    cand = torch.tensor([[False, True, True], [True, False, True]])
    torch.testing.assert_close(coreg.max_candidate_loss(p, cand),
                               -torch.log(torch.tensor([0.3, 0.6])))
    aligned = coreg.distribution_alignment(p)
    torch.testing.assert_close(aligned.sum(1), torch.ones(2))
    # alignment divides by the mean prediction: an over-predicted class loses mass
    assert aligned[0, 0] < p[0, 0]
    z = torch.nn.functional.normalize(torch.randn(8, 4, generator=torch.Generator().manual_seed(1)), dim=1)
    pseudo = torch.tensor([0, 0, 1, 1])
    lab = torch.tensor([True, True, True, False])
    aligned_z = torch.cat([z[:4], z[:4]])  # views identical: positives perfectly aligned
    assert coreg.supcon_loss(aligned_z, pseudo, lab) < coreg.supcon_loss(z, pseudo, lab) + 5


def test_prototype_update_equals_the_sequential_ema_then_normalise():
    g = torch.Generator().manual_seed(0)
    protos = coreg.Prototypes(5, 4, momentum=0.9)
    start = torch.nn.functional.normalize(torch.randn(5, 4, generator=g), dim=1)
    start[3] = 0.0  # a class never seen: stays zero
    protos.protos.copy_(start)
    z = torch.nn.functional.normalize(torch.randn(12, 4, generator=g), dim=1)
    y = torch.tensor([0, 2, 0, 1, 2, 2, 0, 4, 1, 0, 2, 4])
    expected = start.clone()
    for zi, yi in zip(z, y):  # the official code's loop, in batch order
        expected[yi] = 0.9 * expected[yi] + 0.1 * zi
    expected = torch.nn.functional.normalize(expected, dim=1)
    protos.update(z, y)
    torch.testing.assert_close(protos.protos, expected)
    assert torch.all(protos.protos[3] == 0)


def test_coreg_steps_lower_the_loss():
    from labelnoise.noise import partial_labels

    x, y = colour_images(mark=True)
    cand = partial_labels(y, q=0.3, num_classes=3, seed=2)
    cand[:10] = False  # noisy partial labels: 10 sets miss the true class
    cand[np.arange(10), (y[:10] + 1) % 3] = True
    res = coreg.fit(x, cand, model="resnet8", epochs=5, warmup_epochs=3, batch_size=16,
                    lr=0.05, start_contrastive=0, seed=0, progress=False, true_labels=y,
                    low_dim=8, model_kwargs=SMALL)
    h = res.history
    assert [r["phase"] for r in h] == ["warmup"] * 3 + ["train"] * 2
    assert h[2]["train_loss"] < h[0]["train_loss"]
    assert 0 < h[-1]["labeled_fraction"] <= 1
    probs = torch.softmax(res.model(torch.from_numpy(x).permute(0, 3, 1, 2)), 1)
    assert torch.isfinite(probs).all()


def test_coreg_co_divide_finds_the_sets_missing_the_true_label():
    """Recovery of injected noise: on separable blobs with uniform candidate sets of which
    30% have their true label swapped out (noisy partial labels), the GMM co-divide keeps
    as "labeled" almost exactly the sets that still hold the true label."""
    from labelnoise.noise import partial_labels

    rng = np.random.default_rng(0)
    k, d, n = 5, 16, 800
    centers = rng.normal(0, 1, (k, d)) * 1.5
    y = rng.integers(0, k, n)
    x = (centers[y] + rng.normal(0, 1, (n, d))).astype(np.float32)
    cand = partial_labels(y, q=0.2, num_classes=k, noise_rate=0.3, seed=1)
    base = cand[np.arange(n), y].mean()
    assert 0.65 < base < 0.75
    res = coreg.fit(x, cand, model="mlp", epochs=6, warmup_epochs=2, batch_size=64, lr=0.05,
                    start_contrastive=0, true_labels=y, seed=0, progress=False)
    last = res.history[-1]
    assert last["labeled_precision"] > 0.97  # base rate about 0.70
    assert abs(last["labeled_fraction"] - base) < 0.08
