"""Strong augmentation on batches of tensors (labelnoise.training.augment): known answers on
constructed images (identity magnitudes, a planted pixel moved by a translation, solarize /
posterize / brightness by hand, Cutout's square), agreement with PIL's ops, ranges, and
seeding."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from labelnoise.training import augment as A

# small tensors: one thread is faster, and immune to a busy CPU
torch.set_num_threads(1)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _images(n=16, h=12, w=12, c=3, seed=0):
    """Seeded uint8 (n, c, h, w) images: random pixels plus a bright square (structure)."""
    g = _gen(seed)
    x = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)
    x[:, :, 2:6, 3:8] = 230
    return x


# ---------------------------------------------------------------- identities
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_magnitude_zero_leaves_every_magnitude_op_unchanged(dtype):
    x = _images(n=32)
    if dtype == torch.float32:
        x = (x.float() * 0.99 + 0.37).clamp(0, 255)  # not integers: nothing may round them
    ops = tuple(o for o in A.OPS if o not in ("auto_contrast", "equalize"))
    out = A.rand_augment(x, _gen(1), num_ops=3, magnitude=0, ops=ops)
    assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, x)
    assert torch.equal(A.rand_augment(x, _gen(1), num_ops=4, ops=("identity",)), x)
    assert torch.equal(A.rand_augment(x, _gen(1), num_ops=0), x)


def test_auto_contrast_and_equalize_keep_images_they_cannot_improve():
    ramp = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).repeat(2, 3, 1, 1)
    # every channel already spans 0..255, with a flat histogram
    for op in ("auto_contrast", "equalize"):
        assert torch.equal(A.rand_augment(ramp, _gen(), num_ops=2, ops=(op,)), ramp), op
    flat = torch.full((2, 3, 8, 8), 77, dtype=torch.uint8)  # constant channels stay
    for op in ("auto_contrast", "equalize"):
        assert torch.equal(A.rand_augment(flat, _gen(), num_ops=1, ops=(op,)), flat), op


# ---------------------------------------------------------------- known answers
@pytest.mark.parametrize("op, axis", [("translate_x", 3), ("translate_y", 2)])
def test_translate_moves_a_planted_pixel_by_the_magnitude(op, axis):
    # 10 x 10 image, magnitude 10: 0.3 * 10 = 3 pixels, sign drawn per image
    x = torch.zeros(40, 1, 10, 10, dtype=torch.uint8)
    x[:, 0, 4, 5] = 200
    out = A.rand_augment(x, _gen(2), num_ops=1, magnitude=10, ops=(op,))
    moved = set()
    for img in out[:, 0]:
        r, c = (img == 200).nonzero()[0].tolist()
        assert int((img != 0).sum()) == 1  # nothing else appears: the rest is fill (0)
        moved.add((r - 4, c - 5))
    step = {(0, 3), (0, -3)} if axis == 3 else {(3, 0), (-3, 0)}
    assert moved == step  # both directions occur among 40 images
    # affine itself: offset (-2, 0) moves the content 2 pixels right; uncovered: fill
    y = A.affine(x[:1].float(), torch.eye(2)[None], torch.tensor([[-2.0, 0.0]]), fill=9.0)
    assert y[0, 0, 4, 7] == 200 and y[0, 0, 4, 5] == 0
    assert torch.all(y[0, 0, :, :2] == 9.0) and torch.all(y[0, 0, :, 2:] != 9.0)


def test_rotation_by_90_degrees_is_a_counter_clockwise_quarter_turn():
    x = _images(n=3, h=8, w=8).float()
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # inverse map of a +90 degree rotation
    y = A.affine(x, rot.repeat(3, 1, 1), torch.zeros(3, 2))
    assert torch.equal(y, torch.rot90(x, 1, dims=(2, 3)))
    # the op at magnitude 10 turns by 30 degrees, either way: the centre pixel stays
    out = A.rand_augment(x, _gen(), num_ops=1, magnitude=10, ops=("rotate",))
    assert not torch.equal(out, x)


def test_solarize_posterize_brightness_by_hand():
    v = torch.tensor([0.0, 20.0, 100.0, 127.0, 128.0, 200.0, 255.0])
    x = v.view(1, 1, 1, 7).repeat(6, 3, 1, 1).to(torch.uint8)
    # magnitude 5: solarize threshold 256 * (1 - 0.5) = 128
    sol = A.rand_augment(x, _gen(), num_ops=1, magnitude=5, ops=("solarize",))
    want = torch.tensor([0, 20, 100, 127, 127, 55, 0], dtype=torch.uint8)
    assert torch.equal(sol, want.view(1, 1, 1, 7).expand_as(x))
    # magnitude 10: 8 - 4 = 4 bits (multiples of 16); magnitude 5: 6 bits (multiples of 4)
    post = A.rand_augment(x, _gen(), num_ops=1, magnitude=10, ops=("posterize",))
    want = torch.tensor([0, 16, 96, 112, 128, 192, 240], dtype=torch.uint8)
    assert torch.equal(post, want.view(1, 1, 1, 7).expand_as(x))
    post6 = A.rand_augment(x, _gen(), num_ops=1, magnitude=5, ops=("posterize",))
    want = torch.tensor([0, 20, 100, 124, 128, 200, 252], dtype=torch.uint8)
    assert torch.equal(post6, want.view(1, 1, 1, 7).expand_as(x))
    # magnitude 5: factor 1 +- 0.45, the sign per image; clipped at 255, then rounded
    bri = A.rand_augment(x, _gen(3), num_ops=1, magnitude=5, ops=("brightness",))
    up = torch.tensor([0, 29, 145, 184, 186, 255, 255], dtype=torch.uint8)  # 127*1.45=184.15
    down = torch.tensor([0, 11, 55, 70, 70, 110, 140], dtype=torch.uint8)  # 127*.55=69.85
    kinds = set()
    for img in bri:
        row = img[0, 0]
        assert torch.equal(img, row.expand_as(img))
        kinds.add("up" if torch.equal(row, up) else "down" if torch.equal(row, down) else "?")
    assert kinds == {"up", "down"}
    # the functions themselves, on floats
    f = v.view(1, 1, 1, 7)
    assert torch.equal(A.solarize(f, 100.0)[0, 0, 0], torch.tensor(
        [0.0, 20.0, 155.0, 128.0, 127.0, 55.0, 0.0]))
    assert torch.equal(A.posterize(f, 2)[0, 0, 0], torch.tensor(
        [0.0, 0.0, 64.0, 64.0, 128.0, 192.0, 192.0]))
    assert torch.equal(A.brightness(f, 0.5)[0, 0, 0], v * 0.5)


def _pil(x, fn):
    arr = x.permute(0, 2, 3, 1).numpy()
    out = np.stack([np.asarray(fn(Image.fromarray(a))) for a in arr])
    return torch.from_numpy(out).permute(0, 3, 1, 2).float()


def test_photometric_ops_agree_with_pil():
    x = _images(n=6, h=16, w=16, seed=4)
    xf = x.float()
    exact = [(A.equalize(xf), ImageOps.equalize),
             (A.solarize(xf, 128.0), lambda im: ImageOps.solarize(im, 128)),
             (A.posterize(xf, 5), lambda im: ImageOps.posterize(im, 5))]
    for ours, fn in exact:
        assert torch.equal(ours, _pil(x, fn))
    # PIL truncates where we round: within one grey level
    close = [(A.auto_contrast(xf), ImageOps.autocontrast)]
    enhancers = [(A.brightness, ImageEnhance.Brightness), (A.color, ImageEnhance.Color),
                 (A.contrast, ImageEnhance.Contrast), (A.sharpness, ImageEnhance.Sharpness)]
    for factor in (0.3, 1.6):
        for op, enhancer in enhancers:
            close.append((op(xf, factor),
                          lambda im, e=enhancer, f=factor: e(im).enhance(f)))
    for ours, fn in close:
        assert (ours.clamp(0, 255).round() - _pil(x, fn)).abs().max() <= 1


# ---------------------------------------------------------------- occlusion
def _box_of(mask):
    """(top, left, height, width) of a boolean (H, W) mask that must be one filled box."""
    rows, cols = mask.any(1).nonzero()[:, 0], mask.any(0).nonzero()[:, 0]
    top, left = int(rows[0]), int(cols[0])
    height, width = int(rows[-1]) - top + 1, int(cols[-1]) - left + 1
    assert int(mask.sum()) == height * width  # a solid rectangle
    return top, left, height, width


def test_cutout_zeroes_exactly_a_square_of_the_given_size():
    x = torch.full((200, 3, 32, 32), 255, dtype=torch.uint8)
    out = A.cutout(x, _gen(5), 8)
    assert out.dtype == torch.uint8
    inner = 0
    for img in out:
        zero = img == 0
        assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])
        assert torch.all(img[~zero] == 255)
        top, left, height, width = _box_of(zero[0])
        if 0 < top and top + height < 32 and 0 < left and left + width < 32:
            assert (height, width) == (8, 8)  # not touching the border: the whole square
            inner += 1
        else:  # clipped at the border: part of the square
            assert height <= 8 and width <= 8
    assert 60 < inner < 160  # about (23 / 32) ** 2 of the centres keep the square whole
    # sides drawn per image in [lo, hi]; a per-channel fill
    out = A.cutout(x.float(), _gen(6), (2, 5), fill=(125, 123, 114))
    sides = set()
    for img in out:
        hit = img[0] != 255
        top, left, height, width = _box_of(hit)
        assert torch.all(img[:, hit] == torch.tensor([125.0, 123.0, 114.0])[:, None])
        if 0 < top and top + height < 32 and 0 < left and left + width < 32:
            sides.add(height)
            assert height == width
    assert sides == {2, 3, 4, 5}
    assert torch.equal(A.cutout(x, _gen(), 0), x)


def test_random_erasing_erases_one_rectangle_inside_with_probability_p():
    x = torch.full((300, 1, 32, 32), 200.0)
    out = A.random_erasing(x, _gen(7), p=1.0, scale=(0.02, 0.33), ratio=(0.3, 3.3))
    for img in out:
        top, left, height, width = _box_of(img[0] == 0)  # inside the image by construction
        # the drawn sides were rounded by at most 1/2 each
        assert (height + 0.5) * (width + 0.5) >= 0.02 * 1024
        assert (height - 0.5) * (width - 0.5) <= 0.33 * 1024
        assert (height + 0.5) / (width - 0.5) >= 0.3 and (height - 0.5) / (width + 0.5) <= 3.3
    half = A.random_erasing(x, _gen(8), p=0.5)
    erased = (half == 0).flatten(1).any(1).float().mean()
    assert 0.4 < erased < 0.6
    assert torch.equal(A.random_erasing(x, _gen(), p=0.0), x)


# ---------------------------------------------------------------- ranges and seeding
@pytest.mark.parametrize("c", [1, 3])
def test_outputs_stay_in_range_finite_and_shaped(c):
    x = _images(n=64, h=32, w=32, c=c, seed=9)
    for inp in (x, x.float()):
        for kw in (dict(num_ops=3, magnitude=10), dict(num_ops=2, random_magnitude=True)):
            out = A.rand_augment(inp, _gen(10), **kw)
            out = A.random_erasing(A.cutout(out, _gen(11), (0, 16)), _gen(12))
            assert out.shape == inp.shape and out.dtype == inp.dtype
            assert torch.isfinite(out.float()).all()
            assert out.min() >= 0 and out.max() <= 255
            assert not torch.equal(out, inp)


def test_same_seed_same_output_other_seed_other_output():
    x = _images(n=32, h=16, w=16)

    def strong(seed, images=x):
        g = _gen(seed)
        out = A.rand_augment(images, g, num_ops=3, magnitude=10, random_magnitude=True)
        out = A.cutout(out, g, (0, 8), fill=128)
        return A.random_erasing(out, g), g.get_state()

    a, state_a = strong(0)
    b, state_b = strong(0)
    assert torch.equal(a, b) and torch.equal(state_a, state_b)
    c, _ = strong(1)
    assert not torch.equal(a, c)
    # the draws do not depend on the pixels: the generator ends in the same state
    _, state_other = strong(0, images=_images(n=32, h=16, w=16, seed=5))
    assert torch.equal(state_a, state_other)


@pytest.mark.parametrize("call, match", [
    (lambda x: A.rand_augment(x, _gen(), magnitude=11), "magnitude must be in"),
    (lambda x: A.rand_augment(x, _gen(), num_ops=-1), "num_ops must be"),
    (lambda x: A.rand_augment(x, _gen(), ops=("blur",)), "ops must be"),
    (lambda x: A.rand_augment(x, _gen(), ops=()), "ops must be"),
    (lambda x: A.rand_augment(x, _gen(), fill=(1, 2)), "fill must be"),
    (lambda x: A.rand_augment(x[:, :2], _gen()), "1 or 3 channels"),
    (lambda x: A.rand_augment(x[0], _gen()), r"\(B, C, H, W\)"),
    (lambda x: A.rand_augment(x.int(), _gen()), "uint8 or float"),
    (lambda x: A.cutout(x, _gen(), (5, 2)), "size must be"),
    (lambda x: A.cutout(x, _gen(), -1), "size must be"),
    (lambda x: A.random_erasing(x, _gen(), p=1.5), "p must be"),
    (lambda x: A.random_erasing(x, _gen(), scale=(0.5, 0.2)), "scale must be"),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call(_images(n=2, h=8, w=8))
