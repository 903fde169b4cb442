"""The EQ model: semeq's 32-D latent language of equalizer settings, and its vocabulary.

:meth:`EQModel.load` reads the shipped weights (``semeq/weights/eq_vae.safetensors`` and
``eq_vae.json``; safetensors and JSON only, nothing is unpickled). A word's embedding is the
latent centroid of its settings; decoding it gives the word's own 5-band EQ.

Encoding and decoding run in NumPy (float64; :class:`semeq.inference.MLP`); torch is needed
only for :attr:`EQModel.vae`, the torch module training back-propagates through.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import DataError, ParameterError, UnknownWordError
from .params import N_PARAMS, PARAM_HIGHS, PARAM_LOWS, PARAMETERS, EQParams, values_from_unit, values_to_unit

__all__ = ["EQModel", "VocabularyEntry", "default_weights_path"]

FORMAT = "semeq-eq-vae"
FORMAT_VERSION = 1


def default_weights_path() -> Path:
    """The shipped ``eq_vae.safetensors`` inside the package."""
    return Path(__file__).resolve().parent / "weights" / "eq_vae.safetensors"


@dataclass(frozen=True, kw_only=True)
class VocabularyEntry:
    """One word of the vocabulary.

    Attributes
    ----------
    word : str
        Lower-case descriptor.
    language : str
        ISO 639-1 code: ``"en"`` or ``"es"``.
    sources : tuple of str
        Datasets that hold the word: ``"safe"``, ``"audealize"`` or both.
    count : int
        Support of the embedding: SAFE settings averaged, or Audealize contributors.
    confidence : float in [0, 1]
        ``n / (n + 5)`` for a SAFE centroid of ``n`` settings; ``agreement * n / (n + 5)`` for an
        Audealize word of ``n`` contributors.
    low_confidence : bool
        ``confidence < 0.5`` (fewer than 5 SAFE settings, or a thinly supported Audealize word).
    embedding_source : str
        The dataset the embedding comes from (``"safe"`` or ``"audealize"``).
    n_safe : int
        SAFE-DB settings of the word (all splits).
    n_audealize : int
        Audealize contributors of the word (0 when absent).
    """

    word: str
    language: str
    sources: tuple[str, ...]
    count: int
    confidence: float
    low_confidence: bool
    embedding_source: str
    n_safe: int = 0
    n_audealize: int = 0

    def to_dict(self) -> dict:
        return {"word": self.word, "language": self.language, "sources": list(self.sources), "count": self.count,
                "confidence": round(float(self.confidence), 4), "low_confidence": self.low_confidence,
                "embedding_source": self.embedding_source, "n_safe": self.n_safe, "n_audealize": self.n_audealize}

    @classmethod
    def from_dict(cls, d: dict) -> VocabularyEntry:
        return cls(word=str(d["word"]), language=str(d["language"]), sources=tuple(d["sources"]), count=int(d["count"]),
                   confidence=float(d["confidence"]), low_confidence=bool(d["low_confidence"]),
                   embedding_source=str(d["embedding_source"]), n_safe=int(d.get("n_safe", 0)),
                   n_audealize=int(d.get("n_audealize", 0)))


def _resolve(path: str | Path | None) -> tuple[Path, Path]:
    if path is None:
        weights = default_weights_path()
    else:
        weights = Path(path)
        if weights.is_dir():
            weights = weights / "eq_vae.safetensors"
    meta = weights.with_suffix(".json")
    if not weights.is_file():
        raise DataError(f"{weights}: EQ model weights not found")
    if not meta.is_file():
        raise DataError(f"{meta}: EQ model description (JSON) not found next to the weights")
    return weights, meta


class EQModel:
    """The trained EQ VAE with its vocabulary.

    Build with :meth:`load`. Encoding uses the posterior mean; decoding clips into the SAFE
    ranges.

    Examples
    --------
    >>> model = EQModel.load()
    >>> z = model.embedding("Warm")
    >>> z.shape
    (32,)
    >>> model.decode(z).low_shelf_gain_db > 0
    True
    """

    def __init__(self, tensors: dict, meta: dict, embeddings: np.ndarray, path: Path | None = None) -> None:
        from .inference import MLP

        self.meta = meta
        self.path = path
        self._latent_dim = int(meta["vae_config"]["latent_dim"])
        self._tensors = tensors
        self._encoder = MLP(tensors, "vae.encoder.")
        self._decoder = MLP(tensors, "vae.decoder.")
        if (self._encoder.n_in, self._encoder.n_out) != (N_PARAMS, 2 * self._latent_dim) or \
                (self._decoder.n_in, self._decoder.n_out) != (self._latent_dim, N_PARAMS):
            raise ValueError(f"VAE layers do not map {N_PARAMS} parameters to a {self._latent_dim}-D latent and back")
        self._vae = None
        self._entries = [VocabularyEntry.from_dict(d) for d in meta["vocabulary"]]
        self._embeddings = np.asarray(embeddings, dtype=np.float64)
        self._index: dict[str, list[int]] = {}
        for i, e in enumerate(self._entries):
            self._index.setdefault(e.word.lower(), []).append(i)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> EQModel:
        """Load a model: the shipped one, or ``path`` (a folder or its ``.safetensors``).

        Raises
        ------
        DataError
            If the files are missing or malformed.
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        weights_path, meta_path = _resolve(path)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{meta_path}: cannot read EQ model JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DataError(f"{meta_path}: not a semeq EQ model description (format {FORMAT!r} expected)")
        try:
            tensors = load_file(str(weights_path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise DataError(f"{weights_path}: cannot read EQ model weights ({exc})") from None
        try:
            latent_dim = int(meta["vae_config"]["latent_dim"])
            embeddings = np.asarray(tensors["vocabulary.embeddings"], dtype=np.float64)
            if embeddings.shape != (len(meta["vocabulary"]), latent_dim):
                raise ValueError(f"embeddings shape {embeddings.shape} does not match the vocabulary")
            return cls(tensors, meta, embeddings, weights_path)
        except (KeyError, TypeError, ValueError, ParameterError) as exc:
            raise DataError(f"{weights_path}: EQ model files do not match ({exc})") from None

    @property
    def vae(self):
        """The torch :class:`semeq.nn.eq_vae.EQVAE` with these weights (eval mode, frozen), built on
        first use: for training, which back-propagates through the decoder. Needs torch."""
        if self._vae is None:
            import torch

            from .nn.eq_vae import EQVAE, VAEConfig

            vae = EQVAE(VAEConfig(**self.meta["vae_config"]))
            state = {k[len("vae."):]: torch.as_tensor(v) for k, v in self._tensors.items() if k.startswith("vae.")}
            vae.load_state_dict(state, strict=True)
            vae.eval()
            for p in vae.parameters():
                p.requires_grad_(False)
            self._vae = vae
        return self._vae

    # ------------------------------------------------------------------ properties
    @property
    def latent_dim(self) -> int:
        return self._latent_dim

    @property
    def vocabulary(self) -> list[VocabularyEntry]:
        """All entries, in the stored order (most supported first)."""
        return list(self._entries)

    @property
    def metrics(self) -> dict:
        """The metrics recorded when the model was trained."""
        return dict(self.meta.get("metrics", {}))

    # ------------------------------------------------------------------ encode / decode
    def _as_unit(self, params) -> tuple[np.ndarray, bool]:
        if isinstance(params, EQParams):
            return params.to_unit_vector()[None], True
        values = np.asarray(params, dtype=np.float64)
        single = values.ndim == 1
        values = np.atleast_2d(values)
        if values.ndim != 2 or values.shape[1] != N_PARAMS:
            raise ParameterError(f"params must be an EQParams or an array of shape (n, 13), got shape {np.shape(params)}")
        if not np.all(np.isfinite(values)):
            raise ParameterError("params must be finite")
        for i, s in enumerate(PARAMETERS):
            col = values[:, i]
            slack = 1e-4 * max(1.0, abs(s.high))
            if np.any(col < s.low - slack) or np.any(col > s.high + slack):
                bad = col[(col < s.low - slack) | (col > s.high + slack)][0]
                raise ParameterError(f"{s.name}={bad:g} is outside the SAFE range [{s.low:g}, {s.high:g}]")
            values[:, i] = np.clip(col, s.low, s.high)
        return values_to_unit(values), single

    def encode(self, params: EQParams | Sequence[float] | np.ndarray) -> np.ndarray:
        """Latent posterior mean of one or many settings.

        Parameters
        ----------
        params : EQParams or ndarray [shape=(13,) or (n, 13)]
            Physical values in SAFE order.

        Returns
        -------
        latent : ndarray [shape=(latent_dim,) or (n, latent_dim)]
        """
        units, single = self._as_unit(params)
        out = self.encode_unit(units)[0]
        return out[0] if single else out

    def encode_unit(self, x_unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior of normalised settings: ``x_unit`` (n, 13) in [0, 1] -> ``(mu, logvar)``, each
        (n, latent_dim), float64 (:meth:`semeq.nn.eq_vae.EQVAE.encode_unit` in NumPy)."""
        h = self._encoder(np.asarray(x_unit, dtype=np.float64) * 2.0 - 1.0)  # centred inputs
        mu, logvar = h[:, : self.latent_dim], h[:, self.latent_dim:]
        return mu, np.clip(logvar, -12.0, 6.0)

    def decode_unit(self, latents: np.ndarray) -> np.ndarray:
        """Latents (n, latent_dim) -> normalised parameters (n, 13) in [0, 1], float64 (no checks)."""
        return 1.0 / (1.0 + np.exp(-self._decoder(latents)))

    def decode_batch(self, latents: np.ndarray) -> np.ndarray:
        """Physical settings of many latents.

        Parameters
        ----------
        latents : ndarray [shape=(n, latent_dim)]

        Returns
        -------
        params : ndarray [shape=(n, 13)]
            Physical values in SAFE order, inside the SAFE ranges.
        """
        latents = np.asarray(latents, dtype=np.float64)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ParameterError(f"latents must have shape (n, {self.latent_dim}), got {latents.shape}")
        if not np.all(np.isfinite(latents)):
            raise ParameterError("latents must be finite")
        units = np.clip(self.decode_unit(latents), 0.0, 1.0)
        return np.clip(values_from_unit(units), PARAM_LOWS, PARAM_HIGHS)

    def decode(self, latent: np.ndarray) -> EQParams:
        """The EQ setting of one latent vector (``latent`` [shape=(latent_dim,)]), clipped into range."""
        latent = np.asarray(latent, dtype=np.float64)
        if latent.shape != (self.latent_dim,):
            raise ParameterError(f"latent must have shape ({self.latent_dim},), got {latent.shape}; use decode_batch for many")
        return EQParams.clipped(self.decode_batch(latent[None])[0])

    # ------------------------------------------------------------------ words
    def _lookup(self, word: str, language: str | None = None) -> int:
        import unicodedata

        key = " ".join(unicodedata.normalize("NFKC", str(word)).split()).lower()
        hits = self._index.get(key, [])
        if language is not None:
            hits = [i for i in hits if self._entries[i].language == language]
        if not hits:
            close = difflib.get_close_matches(key, list(self._index), n=5, cutoff=0.6)
            hint = f"; closest known words: {', '.join(close)}" if close else "; see 'semeq terms' for the vocabulary"
            where = f" ({language})" if language else ""
            raise UnknownWordError(f"unknown word {word!r}{where}{hint}")
        return max(hits, key=lambda i: self._entries[i].confidence)

    def entry(self, word: str, language: str | None = None) -> VocabularyEntry:
        """The vocabulary entry of ``word`` (case-insensitive); :class:`UnknownWordError` if absent."""
        return self._entries[self._lookup(word, language)]

    def embedding(self, word: str, language: str | None = None) -> np.ndarray:
        """The latent embedding [shape=(latent_dim,)] of ``word`` (case-insensitive).

        Parameters
        ----------
        word : str
        language : {"en", "es"}, optional
            Restrict to one language; by default the most confident entry of that spelling.

        Raises
        ------
        UnknownWordError
            If the word is not in the vocabulary; the message lists the closest known words.
        """
        return self._embeddings[self._lookup(word, language)].copy()

    def word_eq(self, word: str, language: str | None = None) -> EQParams:
        """The word's own static 5-band EQ: its decoded embedding."""
        return self.decode(self.embedding(word, language))

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and " ".join(word.split()).lower() in self._index

    def __repr__(self) -> str:
        return f"EQModel(latent_dim={self.latent_dim}, words={len(self._entries)}, path={str(self.path)!r})"
