"""CIFAR-10/100 loaders, the data root, safe unpickling, image folders, tables, embeddings."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from labelnoise.datasets import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_FINE_TO_COARSE,
    CIFAR100_SUPERCLASSES,
    LabeledDataset,
    get_data_root,
    load_cifar10,
    load_cifar100,
    load_embeddings,
    load_image_folder,
    load_table,
)
from labelnoise.datasets._pickle import RestrictedUnpickler, safe_loads


@pytest.fixture(scope="module")
def cifar10_train(data_root):
    return load_cifar10("train", data_root=data_root, download=False)


@pytest.fixture(scope="module")
def cifar10_test(data_root):
    return load_cifar10("test", data_root=data_root, download=False)


def test_cifar10_train_shapes_and_class_counts(cifar10_train):
    ds = cifar10_train
    assert len(ds) == 50_000
    assert ds.inputs.shape == (50_000, 32, 32, 3)
    assert ds.inputs.dtype == np.uint8
    assert ds.labels.dtype == np.int64
    assert np.bincount(ds.labels, minlength=10).tolist() == [5_000] * 10
    assert ds.class_names == list(CIFAR10_CLASSES) and ds.num_classes == 10
    assert ds.true_labels is None


def test_cifar10_test_shapes_and_class_counts(cifar10_test):
    ds = cifar10_test
    assert ds.inputs.shape == (10_000, 32, 32, 3) and ds.inputs.dtype == np.uint8
    assert np.bincount(ds.labels, minlength=10).tolist() == [1_000] * 10


def test_cifar10_keeps_one_uint8_copy(cifar10_train):
    """The images are one uint8 array of exactly N*3072 bytes that owns its memory (not a
    view of a larger buffer), and nothing in the dataset holds a float copy."""
    x = cifar10_train.inputs
    assert x.dtype == np.uint8 and x.nbytes == 50_000 * 32 * 32 * 3
    assert x.base is None and x.flags.c_contiguous
    held = [v for v in vars(cifar10_train).values()] + list(cifar10_train.info.values())
    floats = [v for v in held if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)]
    assert floats == []


def test_cifar10_pixels_are_hwc_of_the_official_planes(data_root, cifar10_train, cifar10_test):
    """Reference: the planar R, G, B rows of the batch files, read with the plain pickle
    module (a trusted local file built by the fixture)."""
    folder = data_root / "cifar-10-batches-py"
    with open(folder / "data_batch_2", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    planes = batch[b"data"].reshape(-1, 3, 32, 32)
    for i in (0, 1, 9_999):
        np.testing.assert_array_equal(cifar10_train.inputs[10_000 + i], planes[i].transpose(1, 2, 0))
    assert cifar10_train.labels[10_000:20_000].tolist() == batch[b"labels"]
    with open(folder / "test_batch", "rb") as f:
        test = pickle.load(f, encoding="bytes")
    np.testing.assert_array_equal(cifar10_test.inputs[123], test[b"data"][123].reshape(3, 32, 32).transpose(1, 2, 0))


def test_cifar10_first_image_matches_its_jpeg(shared_data, cifar10_train):
    """Independent check of order and orientation: train image 0 is the first image of its
    class, i.e. train/<class>/0000.jpg in the shared JPEG archive (decoded with Pillow)."""
    from PIL import Image

    name = CIFAR10_CLASSES[cifar10_train.labels[0]]
    with tarfile.open(shared_data / "cifar-10-jpeg" / "cifar-10-jpeg.tar.gz") as tar:
        for member in tar:
            if member.name.endswith(f"train/{name}/0000.jpg"):
                img = np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB"))
                break
        else:
            pytest.fail("JPEG not found")
    np.testing.assert_array_equal(cifar10_train.inputs[0], img)


def test_cifar10_labels_only(data_root, cifar10_train):
    ds = load_cifar10("train", data_root=data_root, download=False, load_images=False)
    assert ds.inputs is None
    np.testing.assert_array_equal(ds.labels, cifar10_train.labels)


def test_cifar10_missing_without_download_names_path(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_cifar10("train", data_root=tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg and "download=True" in msg
    assert list(tmp_path.iterdir()) == []


def test_cifar10_incomplete_folder_is_not_touched(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"mine")
    with pytest.raises(FileNotFoundError, match="missing or incomplete"):
        load_cifar10("train", data_root=tmp_path, download=True)
    assert (folder / "data_batch_1").read_bytes() == b"mine"


def test_bad_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_cifar10("validation", data_root=tmp_path, download=False)


def test_get_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELNOISE_DATA", str(tmp_path / "env"))
    assert get_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_root() == tmp_path / "env"
    monkeypatch.delenv("LABELNOISE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert get_data_root() == tmp_path / "cache" / "labelnoise"
    assert not (tmp_path / "cache").exists()  # not created


def _write_py2_pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def make_fake_cifar100(root, n_train=40, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        fine = rng.integers(0, 100, n)
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        _write_py2_pickle(folder / split, {
            b"filenames": [b"x.png"] * n, b"batch_label": b"training batch 1 of 1",
            b"fine_labels": fine.tolist(),
            b"coarse_labels": [CIFAR100_FINE_TO_COARSE[f] for f in fine], b"data": data,
        })
        out[split] = (data, fine)
    _write_py2_pickle(folder / "meta", {
        b"fine_label_names": [s.encode() for s in CIFAR100_CLASSES],
        b"coarse_label_names": [s.encode() for s in CIFAR100_SUPERCLASSES],
    })
    return out


def test_cifar100_fine_and_coarse(tmp_path):
    ref = make_fake_cifar100(tmp_path)
    ds = load_cifar100("train", data_root=tmp_path, download=False)
    data, fine = ref["train"]
    assert ds.inputs.shape == (40, 32, 32, 3) and ds.inputs.dtype == np.uint8
    np.testing.assert_array_equal(ds.inputs[5], data[5].reshape(3, 32, 32).transpose(1, 2, 0))
    np.testing.assert_array_equal(ds.labels, fine)
    assert ds.class_names == list(CIFAR100_CLASSES)
    np.testing.assert_array_equal(ds.info["coarse_labels"], np.asarray(CIFAR100_FINE_TO_COARSE)[fine])
    coarse = load_cifar100("test", data_root=tmp_path, download=False, label_type="coarse")
    np.testing.assert_array_equal(coarse.labels, np.asarray(CIFAR100_FINE_TO_COARSE)[ref["test"][1]])
    assert coarse.num_classes == 20


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Evil(marker)}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        safe_loads(payload)
    assert not marker.exists()


def test_malicious_cifar_batch_is_refused(tmp_path):
    make_fake_cifar100(tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "cifar-100-python" / "train").write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    from labelnoise._io import InputFileError

    with pytest.raises(InputFileError, match="train: refused"):
        load_cifar100("train", data_root=tmp_path, download=False)
    assert not marker.exists()


def test_restricted_unpickler_reads_numpy_arrays():
    arrays = {"a": np.arange(5, dtype=np.int64), "b": np.eye(2, dtype=np.float32)}
    for protocol in (2, 4):
        out = RestrictedUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=protocol))).load()
        np.testing.assert_array_equal(out["a"], arrays["a"])
        assert out["b"].dtype == np.float32


def test_load_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    saved = {}
    for cls, count in (("dog", 2), ("cat", 3)):
        (tmp_path / cls / "sub").mkdir(parents=True)
        for i in range(count):
            arr = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
            path = tmp_path / cls / ("sub" if i == 0 else ".") / f"{i}.png"
            Image.fromarray(arr).save(path)
            saved[path.resolve()] = arr
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    ds = load_image_folder(tmp_path)
    assert ds.class_names == ["cat", "dog"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1]
    assert len(ds.inputs) == 5 and len(ds.inputs[1:3]) == 2
    for i, p in enumerate(ds.inputs.paths):
        np.testing.assert_array_equal(ds.inputs[i], saved[p.resolve()])


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match="no class subfolders"):
        load_image_folder(tmp_path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_load_table(tmp_path, suffix):
    import pandas as pd

    df = pd.DataFrame({
        "f1": [0.5, 1.5, 2.5, 3.5], "f2": [1, 2, 3, 4], "name": ["a", "b", "c", "d"],
        "label": ["zebra", "ant", "zebra", "bee"], "clean": ["zebra", "ant", "bee", "bee"],
    })
    path = tmp_path / f"t{suffix}"
    df.to_csv(path, index=False) if suffix == ".csv" else df.to_parquet(path)
    from labelnoise.datasets import TableWarning

    with pytest.warns(TableWarning, match="'name'"):  # an id-like text column: said, not used
        ds = load_table(path, "label", true_label_column="clean")
    assert ds.class_names == ["ant", "bee", "zebra"]
    assert ds.labels.tolist() == [2, 0, 2, 1] and ds.true_labels.tolist() == [2, 0, 1, 1]
    assert ds.info["feature_columns"] == ["f1", "f2"]
    np.testing.assert_array_equal(ds.inputs, df[["f1", "f2"]].to_numpy(dtype=float))
    assert ds.noise_rate == 0.25
    one = load_table(path, "label", feature_columns=["f2"])
    assert one.inputs.shape == (4, 1)
    named = load_table(path, "label", feature_columns=["name"])  # given: one-hot encoded
    np.testing.assert_array_equal(named.inputs, np.eye(4))
    with pytest.raises(ValueError, match="'nope'"):
        load_table(path, "nope")


def test_load_table_numeric_labels_sorted_numerically(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1.0,10\n2.0,2\n3.0,10\n")
    ds = load_table(path, "y")
    assert ds.class_names == ["2", "10"] and ds.labels.tolist() == [1, 0, 1]


def test_load_embeddings(tmp_path):
    X = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    path = tmp_path / "e.npz"
    np.savez(path, X=X, labels=np.array([0, 1, 2, 0, 1, 2]), true_labels=np.array([0, 1, 2, 0, 1, 1]))
    ds = load_embeddings(path)
    assert ds.inputs.dtype == np.float32 and ds.inputs.shape == (6, 3)
    assert ds.class_names == ["0", "1", "2"] and ds.noise_rate == pytest.approx(1 / 6)
    np.savez(path, X=X, labels=np.arange(5))
    with pytest.raises(ValueError, match="rows"):
        load_embeddings(path)
    np.savez(path, features=X)
    with pytest.raises(ValueError, match="'labels'"):
        load_embeddings(path)
    np.savez(path, vectors=X, labels=np.arange(6) % 3)
    with pytest.raises(ValueError, match="one feature array named 'X' or 'features' or "
                                         "'embeddings'; has \\['labels', 'vectors'\\]"):
        load_embeddings(path)
    np.savez(path, X=X, features=X, labels=np.arange(6) % 3)
    with pytest.raises(ValueError, match="ambiguous"):
        load_embeddings(path)


def test_load_embeddings_as_embedding_code_writes_them(tmp_path):
    """An .npz named as embedding code names it (``embeddings``/``features``) with string
    labels: the classes are the sorted strings, or the file's ``class_names`` order; a
    true label that is not a class is refused."""
    X = np.random.default_rng(1).normal(size=(6, 4))
    words = np.array(["dog", "cat", "dog", "bird", "cat", "dog"])
    path = tmp_path / "e.npz"
    np.savez(path, embeddings=X, labels=words, true_labels=np.where(words == "bird", "cat", words))
    ds = load_embeddings(path)
    np.testing.assert_array_equal(ds.inputs, X)
    assert ds.class_names == ["bird", "cat", "dog"] and ds.labels.tolist() == [2, 1, 2, 0, 1, 2]
    assert ds.true_labels.tolist() == [2, 1, 2, 1, 1, 2]
    np.savez(path, features=X, labels=words, class_names=np.array(["dog", "cat", "bird"]))
    ds = load_embeddings(path)
    assert ds.class_names == ["dog", "cat", "bird"] and ds.labels.tolist() == [0, 1, 0, 2, 1, 0]
    np.savez(path, features=X, labels=words, true_labels=np.array(["dog"] * 5 + ["fox"]))
    with pytest.raises(ValueError, match="fox"):
        load_embeddings(path)


def test_labeled_dataset_validates_lengths():
    labels = np.array([0, 1, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="true_labels"):
        LabeledDataset(inputs=None, labels=labels, true_labels=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="inputs"):
        LabeledDataset(inputs=np.zeros((2, 4)), labels=labels)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        LabeledDataset(inputs=None, labels=labels, class_names=["only"])
    ds = LabeledDataset(inputs=None, labels=labels, annotations=np.full((3, 2), -1))
    assert len(ds) == 3 and ds.num_classes == 2 and ds.noise_rate is None
    small = np.array([1, 0], dtype=np.int32)
    ds = LabeledDataset(inputs=None, labels=small, true_labels=np.array([1, 1], dtype=np.uint8))
    assert ds.labels.dtype == np.int64 and small.dtype == np.int32 and ds.noise_rate == 0.5
    with pytest.raises(ValueError, match="labels"):
        LabeledDataset(inputs=None, labels=np.array([0.5, 1.0]))


def test_image_array_reads_jpegs_at_reduced_scale(tmp_path):
    """image_array of an image folder: PNGs (and JPEGs no larger than twice the target) equal
    the full decode resized bicubically; a large JPEG is decoded at a reduced scale
    (ImageFolderSequence.read_resized, Image.draft) and stays within a few levels of it."""
    from PIL import Image

    from labelnoise.audit import image_array

    rng = np.random.default_rng(0)
    smooth = np.asarray(Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
                        .resize((640, 480), Image.BICUBIC))
    (tmp_path / "a").mkdir()
    Image.fromarray(smooth).save(tmp_path / "a" / "big.jpg", quality=92)
    Image.fromarray(smooth[:40, :40]).save(tmp_path / "a" / "small.jpg", quality=92)
    Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(tmp_path / "a" / "p.png")
    ds = load_image_folder(tmp_path)
    got = image_array(ds.inputs, size=32)

    def full(i):
        return np.asarray(Image.fromarray(ds.inputs[i]).resize((32, 32), Image.BICUBIC))

    names = [p.name for p in ds.inputs.paths]
    for i, name in enumerate(names):
        diff = np.abs(got[i].astype(int) - full(i))
        if name == "big.jpg":
            assert 0 < diff.max() <= 4, diff.max()  # decoded at 1/4 scale (160 x 120)
        else:
            assert diff.max() == 0, name


def test_16_bit_and_float_grey_images_are_scaled_not_clipped(tmp_path):
    """Pillow's convert("RGB") clips a 16-bit grey image at 255 (a scan came out 99.6% white);
    the folder reader scales I;16 by 1/257 and I / F images from their own range."""
    from PIL import Image

    from labelnoise.audit import image_array
    from labelnoise.datasets.folders import rgb8

    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65,520
    (tmp_path / "a").mkdir()
    Image.fromarray(ramp).save(tmp_path / "a" / "scan.png")
    Image.fromarray(np.linspace(-1, 1, 64 * 64, dtype=np.float32).reshape(64, 64)).save(
        tmp_path / "a" / "depth.tif")
    ds = load_image_folder(tmp_path)
    with Image.open(ds.inputs.paths[1]) as im:
        assert im.mode == "I;16" and (np.asarray(im.convert("RGB")) == 255).mean() > 0.99
        np.testing.assert_array_equal(np.asarray(rgb8(im))[..., 0],
                                      np.rint(ramp / 257.0).astype(np.uint8))
    full = ds.inputs[0]  # the float image, spread over 0-255
    assert full.shape == (64, 64, 3) and full.min() == 0 and full.max() == 255
    small = image_array(ds.inputs, size=32)
    assert all(0.4 < img.mean() / 255 < 0.6 for img in small)  # ramps: mid-grey on average
    assert rgb8(Image.fromarray(np.full((4, 4), 7, np.int32))).getextrema() == ((0, 0),) * 3


def test_photos_are_turned_upright_by_their_exif_orientation(tmp_path):
    """A JPEG stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise to view)
    is read upright, whole and resized (as phones write portrait photos)."""
    from PIL import Image

    from labelnoise.audit import image_array

    upright = np.zeros((80, 40, 3), np.uint8)  # a tall image: white top half
    upright[:40] = 255
    stored = np.rot90(upright, k=1)  # what the phone stores: turned 90 degrees anticlockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    (tmp_path / "a").mkdir()
    Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / "a" / "p.jpg", exif=exif,
                                                       quality=95)
    ds = load_image_folder(tmp_path)
    img = ds.inputs[0]
    assert img.shape == (80, 40, 3)
    assert img[:30].mean() > 200 and img[50:].mean() < 50
    small = image_array(ds.inputs, size=16)[0]
    assert small[:6].mean() > 200 and small[10:].mean() < 50
