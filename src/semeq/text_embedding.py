"""Unseen descriptors: a word the vocabulary lacks, placed in the EQ model's latent space from its meaning.

The text embedding is WordLlama's ``l2_supercat_256`` table (the token embeddings of a large
language model, distilled to 256 dimensions, MIT licence), which the ``wordllama`` package ships
inside its wheel: ``wordllama/weights/l2_supercat_256.safetensors`` (16 MB, float16, 32000 x 256)
and ``wordllama/tokenizers/l2_supercat_tokenizer_config.json``. semeq reads those two files itself
with ``safetensors`` and ``tokenizers`` and never imports ``wordllama``: its own loader looks for
the tokenizer under a folder name the wheel does not use and would then try to download it. So
nothing is downloaded at run time and no torch is needed. A text's embedding is the mean of its
tokens' vectors, normalised to unit length (what ``WordLlama.embed(norm=True)`` computes).

The map from the embedding to the EQ space is a ridge regression onto the vocabulary's latents
(:class:`UnseenWordMap`, fitted at first use on the loaded EQ model: 638 words, a few ms), chosen
over similarity-weighted nearest neighbours by ``benchmarks/eval_vocabulary.py`` (median
leave-one-out correlation with the real curves: ridge 0.6, nearest neighbours about 0.5).

Confidence
----------
A placed word's confidence comes from its cosine similarity ``s`` to the nearest vocabulary word.
Leave-one-out over the vocabulary (``benchmarks/eval_vocabulary.py``) finds the placement worse
than chance below s = 0.3 (median correlation with the word's curve -0.27), weak from 0.3 to 0.4
(0.13), useful from 0.4 (0.35) and good above 0.8 (0.66)::

    confidence = MAX_EMBEDDING_CONFIDENCE * clip((s - SIMILARITY_FLOOR) / (1 - SIMILARITY_FLOOR), 0, 1)

A word whose confidence is below :data:`MIN_CONFIDENCE` (s < :data:`MIN_SIMILARITY` = 0.4) is
refused: gibberish, or a word with no sound meaning the table knows.

Nothing here is imported by ``import semeq``; the files load on the first phrase that needs them
(about 0.2 s).
"""

from __future__ import annotations

import importlib.util
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    from .eq_model import EQModel

__all__ = ["TextEmbedding", "UnseenWordMap", "Placement", "EMBEDDING_PACKAGE", "MIN_SIMILARITY",
           "MAX_EMBEDDING_CONFIDENCE", "MIN_CONFIDENCE", "RIDGE_LAMBDA", "embedding_available", "unseen_word_map"]

EMBEDDING_PACKAGE = "wordllama"
"""The registry package whose wheel ships the embedding table (a main dependency of semeq)."""
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
_TENSOR = "embedding.weight"

RIDGE_LAMBDA = 1.0
"""Ridge penalty of the embedding -> latent map (unit-norm 256-D inputs, confidence-weighted rows);
the benchmark prints the neighbouring values."""
SIMILARITY_FLOOR = 0.2
"""The similarity at which a placed word's confidence reaches 0."""
MAX_EMBEDDING_CONFIDENCE = 0.6
"""A placed word is never trusted as much as a word with data (the best-supported words reach 0.99)."""
MIN_CONFIDENCE = 0.15
"""Below this confidence a placed word is refused with suggestions."""
MIN_SIMILARITY = SIMILARITY_FLOOR + MIN_CONFIDENCE / MAX_EMBEDDING_CONFIDENCE * (1.0 - SIMILARITY_FLOOR)
"""The same threshold as a cosine similarity to the nearest vocabulary word: 0.4."""
N_NEIGHBOURS = 5
"""Vocabulary words reported as a placed word's neighbours."""


def embedding_available() -> bool:
    """Whether the embedding package is installed (nothing is imported)."""
    return importlib.util.find_spec(EMBEDDING_PACKAGE) is not None


def _package_files() -> tuple[Path, Path]:
    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)  # a top-level spec: wordllama is not imported
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"unseen words need the '{EMBEDDING_PACKAGE}' package, which ships the text embedding: "
                          f"pip install semeq (or pip install {EMBEDDING_PACKAGE})")
    root = Path(list(spec.submodule_search_locations)[0])
    weights, tokenizer = root.joinpath(*_WEIGHTS), root.joinpath(*_TOKENIZER)
    for path in (weights, tokenizer):
        if not path.is_file():
            raise ImportError(f"{path} is missing from the installed '{EMBEDDING_PACKAGE}' package: reinstall it")
    return weights, tokenizer


class TextEmbedding:
    """WordLlama's shipped token table: text -> unit vector [shape=(256,)].

    Examples
    --------
    >>> emb = TextEmbedding.load()  # doctest: +SKIP
    >>> emb.embed(["warm", "warmth"]).shape  # doctest: +SKIP
    (2, 256)
    """

    def __init__(self, table: np.ndarray, tokenizer) -> None:
        self.table = np.asarray(table)  # (n_tokens, dim), float16 as shipped: rows are widened when read
        self.tokenizer = tokenizer

    @classmethod
    def load(cls) -> "TextEmbedding":
        """Read the two shipped files (no network).

        Raises
        ------
        ImportError
            If the package is not installed (the message says what to install).
        """
        weights, tokenizer_path = _package_files()
        from safetensors import safe_open
        from tokenizers import Tokenizer

        with safe_open(str(weights), framework="np") as f:
            table = f.get_tensor(_TENSOR)
        return cls(table, Tokenizer.from_file(str(tokenizer_path)))

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings [shape=(len(texts), dim)], float64; a text without tokens gives zeros."""
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        for i, text in enumerate(texts):
            # one text at a time: encode_batch would start the tokenizer's thread pool, after which a
            # fork (a server's workers, multiprocessing) prints a warning and disables it
            ids = self.tokenizer.encode(str(text), add_special_tokens=False).ids
            if ids:
                v = self.table[ids].astype(np.float64).mean(axis=0)
                norm = np.linalg.norm(v)
                if norm > 0:
                    out[i] = v / norm
        return out


@dataclass(frozen=True, kw_only=True)
class Placement:
    """An unseen word, placed."""

    word: str
    latent: np.ndarray
    """[shape=(latent_dim,)] in the EQ model's space."""
    neighbours: tuple[tuple[str, float], ...]
    """The most similar vocabulary words, with their cosine similarities."""
    similarity: float
    """Cosine similarity to the nearest vocabulary word."""
    confidence: float


class UnseenWordMap:
    """Ridge regression from the text embedding to the EQ model's latent, fitted on the vocabulary.

    Parameters
    ----------
    model : EQModel
    embedding : TextEmbedding
    exclude : iterable of str
        Vocabulary words left out of the fit and of the neighbours (leave-one-out evaluation).
    lam : float
        Ridge penalty.

    Notes
    -----
    Rows are weighted by the vocabulary confidence ``c_i`` (a word of many settings counts more)::

        B = argmin sum_i c_i ||(x_i - x_mean) B - (z_i - z_mean)||^2 + lam ||B||^2
        z(word) = (x(word) - x_mean) B + z_mean

    with ``x`` the unit text embeddings (256) and ``z`` the vocabulary latents (32); the means are
    confidence-weighted.
    """

    def __init__(self, model: "EQModel", embedding: TextEmbedding, exclude: Iterable[str] = (),
                 lam: float = RIDGE_LAMBDA) -> None:
        drop = {str(w).lower() for w in exclude}
        entries = [(i, e) for i, e in enumerate(model.vocabulary) if e.word.lower() not in drop]
        self.words = [e.word for _, e in entries]
        self.embedding = embedding
        latents = np.stack([model.embedding(e.word, e.language) for _, e in entries])  # (n, latent_dim)
        weights = np.array([max(float(e.confidence), 1e-3) for _, e in entries])  # (n,)
        x = embedding.embed(self.words)  # (n, dim)
        self.vectors = x
        w = weights / weights.sum()
        self.x_mean = w @ x  # (dim,)
        self.z_mean = w @ latents  # (latent_dim,)
        sw = np.sqrt(weights)[:, None]
        xc, zc = (x - self.x_mean) * sw, (latents - self.z_mean) * sw
        self.coef = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ zc)  # (dim, latent_dim)

    def place(self, word: str) -> Placement:
        """The latent, neighbours and confidence of ``word`` from its text alone."""
        q = self.embedding.embed([word])[0]
        sims = self.vectors @ q  # (n,)
        order = np.argsort(-sims)[:N_NEIGHBOURS]
        top = float(sims[order[0]]) if np.any(q) else 0.0
        latent = (q - self.x_mean) @ self.coef + self.z_mean
        conf = MAX_EMBEDDING_CONFIDENCE * float(np.clip((top - SIMILARITY_FLOOR) / (1.0 - SIMILARITY_FLOOR), 0.0, 1.0))
        return Placement(word=word, latent=latent, neighbours=tuple((self.words[j], float(sims[j])) for j in order),
                         similarity=top, confidence=conf)


_LOCK = threading.Lock()
_EMBEDDING: TextEmbedding | None = None
_MAPS: "weakref.WeakKeyDictionary[EQModel, dict]" = weakref.WeakKeyDictionary()


def load_embedding() -> TextEmbedding:
    """The process-wide text embedding (read on first use)."""
    global _EMBEDDING
    with _LOCK:
        if _EMBEDDING is None:
            _EMBEDDING = TextEmbedding.load()
        return _EMBEDDING


def unseen_word_map(model: "EQModel", exclude: Iterable[str] = ()) -> UnseenWordMap:
    """The map for ``model`` (fitted on first use, then cached with the model)."""
    key = frozenset(str(w).lower() for w in exclude)
    embedding = load_embedding()
    with _LOCK:
        maps = _MAPS.setdefault(model, {})
        hit = maps.get(key)
        if hit is None:
            hit = UnseenWordMap(model, embedding, key)
            if len(maps) > 64:  # leave-one-out runs fit one map per left-out word
                maps.clear()
            maps[key] = hit
        return hit
