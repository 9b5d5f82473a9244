"""Dataset loaders that all return a :class:`LabeledDataset`.

* :func:`load_cifar10`, :func:`load_cifar100`: the official python archives (downloaded and
  MD5-checked when missing) under the data root (:func:`get_data_root`).
* :func:`load_cifar10n`, :func:`load_cifar100n`: CIFAR-N real human labels.
* :func:`load_image_folder`, :func:`load_table`, :func:`load_embeddings`: your own data.
"""

from labelnoise.datasets._download import ArchiveError, DownloadError
from labelnoise.datasets._root import get_data_root
from labelnoise.datasets.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_FINE_TO_COARSE,
    CIFAR100_SUPERCLASSES,
    load_cifar10,
    load_cifar100,
)
from labelnoise.datasets.cifar_n import CIFAR10N_LABEL_SETS, load_cifar10n, load_cifar100n
from labelnoise.datasets.container import LabeledDataset
from labelnoise.datasets.folders import ImageFolderSequence, load_image_folder
from labelnoise.datasets.tables import (
    NPZ_FEATURE_KEYS,
    TableWarning,
    load_embeddings,
    load_table,
    npz_features,
    read_table_inputs,
)

__all__ = [
    "TableWarning",
    "ArchiveError",
    "CIFAR10N_LABEL_SETS",
    "CIFAR100_CLASSES",
    "CIFAR100_FINE_TO_COARSE",
    "CIFAR100_SUPERCLASSES",
    "CIFAR10_CLASSES",
    "DownloadError",
    "ImageFolderSequence",
    "LabeledDataset",
    "get_data_root",
    "load_cifar10",
    "load_cifar100",
    "load_cifar100n",
    "load_cifar10n",
    "load_embeddings",
    "npz_features",
    "NPZ_FEATURE_KEYS",
    "load_image_folder",
    "load_table",
    "read_table_inputs",
]
