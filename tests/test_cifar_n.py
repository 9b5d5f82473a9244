"""CIFAR-10N / CIFAR-100N human labels: exact noise rates, annotations, annotator ids."""

from __future__ import annotations

import csv
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from labelnoise.datasets import (
    CIFAR100_FINE_TO_COARSE,
    load_cifar10,
    load_cifar10n,
    load_cifar100n,
)

# label set -> number of labels that differ from clean_label (PROVENANCE.md of cifar-10n)
EXPECTED_WRONG = {"aggre": 4_505, "random1": 8_617, "random2": 9_061, "random3": 8_820,
                  "worse": 20_104, "worst": 20_104, "clean": 0}


@pytest.fixture(scope="module")
def reference(shared_data):
    """The CIFAR-10N arrays read with the plain pickle module straight from the shared copy
    (a trusted local file), as PROVENANCE.md describes."""
    raw = zipfile.ZipFile(shared_data / "cifar-10n" / "CIFAR-10_human.pt").read("archive/data.pkl")
    return pickle.loads(raw)


@pytest.fixture(scope="module")
def worse(data_root):
    return load_cifar10n("worse", data_root=data_root, download=False, load_images=False)


@pytest.mark.parametrize("label_set", sorted(EXPECTED_WRONG))
def test_cifar10n_exact_noise_rates(data_root, reference, label_set):
    ds = load_cifar10n(label_set, data_root=data_root, download=False, load_images=False)
    assert ds.inputs is None and len(ds) == 50_000 and ds.labels.dtype == np.int64
    assert int(np.sum(ds.labels != ds.true_labels)) == EXPECTED_WRONG[label_set]
    assert ds.info["noise_rate"] == EXPECTED_WRONG[label_set] / 50_000
    key = {"aggre": "aggre_label", "worst": "worse_label", "clean": "clean_label"}.get(
        label_set, f"{label_set}_label" if label_set == "worse" else f"random_label{label_set[-1]}")
    np.testing.assert_array_equal(ds.labels, reference[key])
    np.testing.assert_array_equal(ds.true_labels, reference["clean_label"])


def test_cifar10n_rates_rounded_like_the_paper(worse, data_root):
    aggre = load_cifar10n("aggre", data_root=data_root, download=False, load_images=False)
    assert round(100 * aggre.noise_rate, 2) == 9.01
    assert round(100 * worse.noise_rate, 2) == 40.21


def test_cifar10n_annotations_are_the_three_random_labels(worse, reference):
    assert worse.annotations.shape == (50_000, 3) and worse.annotations.dtype == np.int64
    for m in range(3):
        np.testing.assert_array_equal(worse.annotations[:, m], reference[f"random_label{m + 1}"])
    # worse_label is wrong exactly where some annotator was wrong
    any_wrong = (worse.annotations != worse.true_labels[:, None]).any(axis=1)
    np.testing.assert_array_equal(worse.labels != worse.true_labels, any_wrong)


def test_cifar10n_aggre_is_the_majority_vote(data_root, worse):
    aggre = load_cifar10n("aggre", data_root=data_root, download=False, load_images=False)
    a = worse.annotations
    votes = np.stack([(a == c).sum(axis=1) for c in range(10)], axis=1)
    has_majority = votes.max(axis=1) >= 2
    assert int(has_majority.sum()) == 46_959
    np.testing.assert_array_equal(aggre.labels[has_majority], votes.argmax(axis=1)[has_majority])


def test_cifar10n_annotator_ids_follow_the_side_info(worse, shared_data):
    ids = worse.annotator_ids
    assert ids.shape == (50_000, 3) and ids.dtype.kind == "U"
    with open(shared_data / "cifar-10n" / "side_info_cifar10N.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5_000
    for row in (rows[0], rows[1], rows[2_500], rows[-1]):
        lo, hi = map(int, row["Image-batch"].split("--"))
        for m in range(3):
            assert set(ids[lo:hi + 1, m]) == {row[f"Worker{m + 1}-id"]}
    assert worse.info["work_time_seconds"][0].tolist() == [int(rows[0][f"Work-time-in-seconds-{m}"]) for m in (1, 2, 3)]


def test_cifar10n_with_images_matches_cifar10(data_root):
    ds = load_cifar10n("random1", data_root=data_root, download=False, load_images=True)
    train = load_cifar10("train", data_root=data_root, download=False)
    assert ds.inputs.shape == (50_000, 32, 32, 3) and ds.inputs.dtype == np.uint8
    np.testing.assert_array_equal(ds.true_labels, train.labels)
    np.testing.assert_array_equal(ds.inputs[[0, 49_999]], train.inputs[[0, 49_999]])


def test_cifar100n_noise_rates(data_root):
    ds = load_cifar100n("noisy", data_root=data_root, download=False, load_images=False)
    assert len(ds) == 50_000 and ds.num_classes == 100
    assert int(np.sum(ds.labels != ds.true_labels)) == 20_100  # 40.20%
    coarse = load_cifar100n("noisy", data_root=data_root, download=False, load_images=False,
                            label_type="coarse")
    assert int(np.sum(coarse.labels != coarse.true_labels)) == 13_202  # 26.40%
    clean = load_cifar100n("clean", data_root=data_root, download=False, load_images=False)
    assert clean.noise_rate == 0.0
    # the fine -> coarse constant agrees with the official clean (fine, coarse) pairs
    np.testing.assert_array_equal(np.asarray(CIFAR100_FINE_TO_COARSE)[ds.true_labels], coarse.true_labels)


def test_unknown_label_set_lists_the_valid_ones(data_root):
    with pytest.raises(ValueError, match="aggre.*random1.*worse"):
        load_cifar10n("best", data_root=data_root, download=False, load_images=False)
    with pytest.raises(ValueError, match="noisy"):
        load_cifar100n("worse", data_root=data_root, download=False, load_images=False)


def test_missing_files_without_download(tmp_path, data_root):
    with pytest.raises(FileNotFoundError) as err:
        load_cifar10n("aggre", data_root=tmp_path, download=False, load_images=False)
    assert str(tmp_path / "cifar-10n" / "CIFAR-10_human.pt") in str(err.value)
    assert "github.com/UCSC-REAL/cifar-10-100n" in str(err.value)
    (tmp_path / "cifar-10n").mkdir()
    shutil.copy(data_root / "cifar-10n" / "CIFAR-10_human.pt", tmp_path / "cifar-10n")
    with pytest.raises(FileNotFoundError, match="side_info_cifar10N.csv"):
        load_cifar10n("aggre", data_root=tmp_path, download=False, load_images=False)
    shutil.copy(data_root / "cifar-10n" / "side_info_cifar10N.csv", tmp_path / "cifar-10n")
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_cifar10n("aggre", data_root=tmp_path, download=False, load_images=True)


def test_malicious_pt_file_is_refused(tmp_path, data_root):
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    folder = tmp_path / "cifar-10n"
    folder.mkdir()
    shutil.copy(data_root / "cifar-10n" / "side_info_cifar10N.csv", folder)
    with zipfile.ZipFile(folder / "CIFAR-10_human.pt", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"clean_label": Evil()}, protocol=2))
    from labelnoise._io import InputFileError

    with pytest.raises(InputFileError, match=r"CIFAR-10_human\.pt: refused"):
        load_cifar10n("aggre", data_root=tmp_path, download=False, load_images=False)
    assert not (tmp_path / "pwned").exists()
