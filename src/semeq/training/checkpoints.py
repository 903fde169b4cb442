"""Writing trained models: one atomic writer for both models' files, and the SHA-256 pairing.

Every file is written to a temporary file in the target folder and renamed over the old one,
so a crash never leaves half a model (readers see the old file or the new one).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_write_bytes", "save_eq_model", "save_encoder_checkpoint", "sha256_of_file"]


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (mode 0644)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are ordinary package files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_eq_model(out_dir: Path, vae, meta: dict, embeddings: np.ndarray, extra: dict[str, np.ndarray]) -> Path:
    """Write ``eq_vae.safetensors`` and ``eq_vae.json`` into ``out_dir`` atomically.

    Parameters
    ----------
    vae : semeq.nn.eq_vae.EQVAE
        Stored as float32 under ``vae.*``.
    embeddings : ndarray [shape=(n_words, latent_dim)]
        Stored as float32 ``vocabulary.embeddings``.
    extra : dict of ndarray
        Further tensors, stored as float64.
    """
    import torch
    from safetensors.torch import save

    tensors = {f"vae.{k}": v.detach().contiguous().float() for k, v in vae.state_dict().items()}
    tensors["vocabulary.embeddings"] = torch.as_tensor(embeddings, dtype=torch.float32).contiguous()
    for k, v in extra.items():
        tensors[k] = torch.as_tensor(v, dtype=torch.float64).contiguous()
    weights = Path(out_dir) / "eq_vae.safetensors"
    atomic_write_bytes(weights, save(tensors, metadata={"format": "semeq-eq-vae"}))
    atomic_write_bytes(Path(out_dir) / "eq_vae.json", (json.dumps(meta, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return weights


def save_encoder_checkpoint(stem: str | Path, state_dict: dict, meta: dict) -> None:
    """Write ``stem.safetensors`` (weights) and ``stem.json`` (configs, reference, metrics), atomically.

    Parameters
    ----------
    stem : str or Path
        Path without suffix; its folder is created if missing.
    state_dict : dict of Tensor
    meta : dict
        JSON-serialisable; must hold ``"encoder_config"`` (read by
        :func:`semeq.nn.audio_encoder.load_encoder_checkpoint`).
    """
    from safetensors.torch import save

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    atomic_write_bytes(stem.with_suffix(".safetensors"), save(tensors, metadata={"format": "semeq-audio-encoder"}))
    atomic_write_bytes(stem.with_suffix(".json"), (json.dumps(meta, indent=1) + "\n").encode("utf-8"))


def sha256_of_file(path: str | Path | None) -> str | None:
    """SHA-256 (hex) of a file, None when there is no such file (an EQ model built in memory)."""
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
