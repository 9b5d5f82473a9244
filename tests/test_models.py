"""Backbones: shapes, parameter counts from the architectures, input normalisation."""

import pytest
import torch

from labelnoise.models import MODEL_NAMES, build_model, count_parameters

torch.set_num_threads(2)


def _resnet8_params():
    def conv(ci, co, k):
        return ci * co * k * k

    def bn(c):
        return 2 * c

    total = conv(3, 16, 3) + bn(16)
    for ci, co in ((16, 16), (16, 32), (32, 64)):
        total += conv(ci, co, 3) + bn(co) + conv(co, co, 3) + bn(co)
        if ci != co:
            total += conv(ci, co, 1) + bn(co)
    return total + 64 * 10 + 10


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "mlp"])
def test_image_models_shapes(name):
    torch.manual_seed(0)
    model = build_model(name, 7).eval()
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    out = model(x)
    assert out.shape == (2, 7) and out.dtype == torch.float32
    # uint8 pixels and the same values as floats give the same logits
    assert torch.allclose(out, model(x.float()), atol=1e-5)


def test_parameter_counts():
    torch.manual_seed(0)
    assert count_parameters(build_model("resnet8", 10)) == _resnet8_params() == 78042
    assert count_parameters(build_model("resnet20", 10)) == 272474
    assert count_parameters(build_model("airbench", 10)) == 1972792
    assert count_parameters(build_model("preact-resnet18", 10)) == 11172170
    # MLP 384-512-512-10 with BatchNorm: weights + BN affine + output bias
    mlp = build_model("mlp", 10, in_features=384)
    assert count_parameters(mlp) == 384 * 512 + 1024 + 512 * 512 + 1024 + 512 * 10 + 10


def test_normalisation_uses_given_statistics():
    torch.manual_seed(0)
    model = build_model("resnet8", 3, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = torch.full((1, 3, 4, 4), 255, dtype=torch.uint8)
    assert torch.allclose(model.normalize(x), torch.full((1, 3, 4, 4), 2.0))


def test_mlp_and_errors():
    torch.manual_seed(0)
    mlp = build_model("mlp", 4, in_features=8, hidden=(16,)).eval()
    assert mlp(torch.randn(5, 8)).shape == (5, 4)
    with pytest.raises(ValueError, match="in_features"):
        build_model("mlp", 4)
    with pytest.raises(ValueError, match="name"):
        build_model("resnet50", 10)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("resnet8", 1)


def test_build_is_seeded():
    torch.manual_seed(5)
    a = build_model("resnet8", 10)
    torch.manual_seed(5)
    b = build_model("resnet8", 10)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("name", ["resnet8", "airbench", "mlp"])
def test_penultimate_features_give_the_logits(name):
    """capture_penultimate records the input of the output layer: that layer applied to the
    features gives the logits (airbench scales its head by 1/9); the hook is removed after."""
    from labelnoise.models import capture_penultimate, final_linear

    torch.manual_seed(0)
    kwargs = {"in_features": 8, "hidden": (16,)} if name == "mlp" else {}
    model = build_model(name, 5, **kwargs).eval()
    x = torch.randn(3, 8) if name == "mlp" else torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad(), capture_penultimate(model) as feats:
        logits = model(x)
        model(x[:1])
    assert [f.shape[0] for f in feats] == [3, 1] and feats[0].dtype == torch.float32
    width = {"resnet8": 64, "airbench": 256, "mlp": 16}[name]
    assert feats[0].shape == (3, width)
    scale = 1 / 9 if name == "airbench" else 1.0
    with torch.no_grad():
        assert torch.allclose(final_linear(model)(feats[0]) * scale, logits, atol=1e-5)
        model(x)
    assert len(feats) == 2  # nothing recorded outside the block
    with pytest.raises(ValueError, match="no nn.Linear"):
        final_linear(torch.nn.Sequential(torch.nn.ReLU()))


def test_patch_whitening_filters_whiten_the_patches():
    from torch.nn import functional as F

    from labelnoise.models import patch_whitening_filters

    g = torch.Generator().manual_seed(0)
    # correlated channels: a shared component plus small independent noise
    base = torch.randn(64, 1, 12, 12, generator=g)
    x = torch.cat([base + 0.1 * torch.randn(64, 1, 12, 12, generator=g) for _ in range(3)], 1)
    f = patch_whitening_filters(x, 2, eps=1e-8)
    assert f.shape == (12, 3, 2, 2) and f.dtype == torch.float32
    out = F.conv2d(x.double(), f.double()).permute(0, 2, 3, 1).reshape(-1, 12)
    second_moment = out.T @ out / out.shape[0]
    torch.testing.assert_close(second_moment, torch.eye(12, dtype=torch.float64), atol=1e-4,
                               rtol=0)
    # largest-variance direction first: its filter has the smallest norm
    norms = f.flatten(1).norm(dim=1)
    assert (norms[1:] >= norms[:-1] - 1e-6).all()


def test_whitened_airbench_stem_is_set_from_the_training_images_and_frozen():
    import numpy as np

    from labelnoise.models import AirbenchNet, patch_whitening_filters
    from labelnoise.training.standard import fit

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(40) % 2
    res = fit(images, labels, model="airbench", model_kwargs={"whiten": True}, epochs=2,
              batch_size=16, progress=False, seed=0)
    net = res.model
    assert net.stem.weight.shape == (24, 3, 2, 2) and not net.stem.weight.requires_grad
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    f = patch_whitening_filters(net.normalize(x), 2)
    torch.testing.assert_close(net.stem.weight.detach().cpu(), torch.cat([f, -f]))
    grey = AirbenchNet(3, in_channels=1, whiten=True)
    assert grey.stem.weight.shape == (8, 1, 2, 2)
    with pytest.raises(ValueError, match="whiten=True"):
        AirbenchNet(3).init_from_data(x)
