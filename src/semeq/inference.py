"""The shipped networks at run time, in NumPy: no torch needed to use semeq.

Built from the same ``.safetensors`` files training writes (read with safetensors' NumPy API,
nothing unpickled); the torch modules in :mod:`semeq.nn` remain the training-side definitions,
and ``tests/test_inference.py`` holds these to them within 1e-4 on real audio.

* :class:`MLP`: the EQ VAE's encoder and decoder (Linear/SiLU stacks), float64.
* :class:`EncoderCNN`: the audio encoder's MobileNet-style CNN and head, float32, with each
  batch norm folded into the convolution before it (inference-mode arithmetic).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["MLP", "EncoderCNN", "BN_EPS"]

BN_EPS = 1e-5
"""torch's ``BatchNorm2d`` default epsilon, which the checkpoints were trained with."""


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


class MLP:
    """``Linear -> SiLU -> ... -> Linear``: the layout of :func:`semeq.nn.eq_vae._mlp`.

    Parameters
    ----------
    tensors : mapping of str to ndarray
        ``{prefix}{i}.weight`` [shape=(out, in)] and ``{prefix}{i}.bias`` for the linear layers
        at positions 0, 2, 4, ... of the torch ``Sequential``.
    prefix : str
        E.g. ``"vae.decoder."``.
    """

    def __init__(self, tensors: Mapping[str, np.ndarray], prefix: str) -> None:
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        i = 0
        while f"{prefix}{i}.weight" in tensors:
            w = np.asarray(tensors[f"{prefix}{i}.weight"], dtype=np.float64)
            b = np.asarray(tensors[f"{prefix}{i}.bias"], dtype=np.float64)
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(f"{prefix}{i}: weight {w.shape} and bias {b.shape} do not form a linear layer")
            if self.layers and self.layers[-1][0].shape[1] != w.shape[1]:
                raise ValueError(f"{prefix}{i}: input size {w.shape[1]} does not follow {self.layers[-1][0].shape[1]}")
            self.layers.append((w.T.copy(), b))  # stored (in, out): x @ w
            i += 2
        if not self.layers:
            raise ValueError(f"no layers under {prefix!r}")

    @property
    def n_in(self) -> int:
        return self.layers[0][0].shape[0]

    @property
    def n_out(self) -> int:
        return self.layers[-1][0].shape[1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x`` [shape=(batch, n_in)] -> [shape=(batch, n_out)], float64."""
        h = np.asarray(x, dtype=np.float64)
        for k, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if k < len(self.layers) - 1:
                h = _silu(h)
        return h


class _ConvBN:
    """A bias-free Conv2d (3x3 full or depthwise, or 1x1) with its batch norm folded in, then ReLU6."""

    def __init__(self, tensors: Mapping[str, np.ndarray], prefix: str, stride: tuple[int, int]) -> None:
        w = np.asarray(tensors[f"{prefix}0.weight"], dtype=np.float64)  # (out, in / groups, kh, kw)
        gamma = np.asarray(tensors[f"{prefix}1.weight"], dtype=np.float64)
        beta = np.asarray(tensors[f"{prefix}1.bias"], dtype=np.float64)
        mean = np.asarray(tensors[f"{prefix}1.running_mean"], dtype=np.float64)
        var = np.asarray(tensors[f"{prefix}1.running_var"], dtype=np.float64)
        scale = gamma / np.sqrt(var + BN_EPS)
        self.weight = (w * scale[:, None, None, None]).astype(np.float32)
        self.shift = (beta - mean * scale).astype(np.float32)[None, :, None, None]  # (1, out, 1, 1)
        self.stride = stride
        self.kernel = w.shape[2]
        self.depthwise = w.shape[1] == 1 and w.shape[0] > 1 and self.kernel == 3

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x`` [shape=(batch, in, height, width)] float32 -> [shape=(batch, out, height', width')]."""
        batch, c_in, height, width = x.shape
        sh, sw = self.stride
        if self.kernel == 1:  # pointwise: (out, in) @ (batch, in, h*w)
            y = np.matmul(self.weight[:, :, 0, 0], x.reshape(batch, c_in, height * width))
            y = y.reshape(batch, -1, height, width)
        else:
            h_out, w_out = (height - 1) // sh + 1, (width - 1) // sw + 1  # 3x3, padding 1
            xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
            taps = [xp[:, :, i:i + sh * (h_out - 1) + 1:sh, j:j + sw * (w_out - 1) + 1:sw]
                    for i in range(3) for j in range(3)]  # 9 x (batch, in, h_out, w_out) views
            if self.depthwise:
                w = self.weight[:, 0].reshape(c_in, 9)
                y = taps[0] * w[None, :, 0, None, None]
                for k in range(1, 9):
                    y += taps[k] * w[None, :, k, None, None]
            else:  # full convolution as a matmul over (in x 9) patches
                cols = np.stack(taps, axis=2).reshape(batch, c_in * 9, h_out * w_out)  # (batch, in*9, h*w)
                y = np.matmul(self.weight.reshape(self.weight.shape[0], c_in * 9), cols).reshape(batch, -1, h_out, w_out)
        y += self.shift
        return np.clip(y, 0.0, 6.0, out=y)


class EncoderCNN:
    """The audio encoder's network (:class:`semeq.nn.audio_encoder.AudioEncoderNet`) after its
    front end: log-mel -> time-pooled features -> latent.

    Parameters
    ----------
    tensors : mapping of str to ndarray
        The encoder checkpoint's tensors.
    strides : sequence of (int, int)
        (frequency, time) stride of each depthwise-separable block, after the (2, 2) stem.
    spectrum_skip : bool
        Whether the time-mean of the log-mel joins the pooled features.
    latent_scale : float
    n_mels : int
    """

    def __init__(self, tensors: Mapping[str, np.ndarray], *, strides, spectrum_skip: bool, latent_scale: float,
                 n_mels: int) -> None:
        self.layers = [_ConvBN(tensors, "features.0.", (2, 2))]
        for k, stride in enumerate(strides, start=1):
            self.layers.append(_ConvBN(tensors, f"features.{k}.0.", tuple(stride)))  # depthwise 3x3
            self.layers.append(_ConvBN(tensors, f"features.{k}.1.", (1, 1)))  # pointwise
        if f"features.{len(strides) + 1}.0.0.weight" in tensors:
            raise ValueError("the checkpoint has more blocks than its configuration")
        self.head = [(np.asarray(tensors[f"head.{i}.weight"], dtype=np.float32).T.copy(),
                      np.asarray(tensors[f"head.{i}.bias"], dtype=np.float32)) for i in (0, 2)]
        self.spectrum_skip = bool(spectrum_skip)
        self.latent_scale = float(latent_scale)
        self.n_mels = int(n_mels)
        self.freq_coord = np.linspace(-1.0, 1.0, self.n_mels, dtype=np.float32)[:, None]  # (n_mels, 1)

    def pooled(self, log_mel_db: np.ndarray) -> np.ndarray:
        """Time-pooled features.

        Parameters
        ----------
        log_mel_db : ndarray [shape=(batch, n_mels, n_frames)]

        Returns
        -------
        features : ndarray [shape=(batch, channels * n_freq_rows [+ n_mels]), dtype=float32]
        """
        x = np.asarray(log_mel_db, dtype=np.float32) * np.float32(1.0 / 20.0)  # roughly unit scale
        batch, n_mels, n_frames = x.shape
        coord = np.broadcast_to(self.freq_coord, (batch, n_mels, n_frames))
        h = np.stack([x, coord], axis=1)  # (batch, 2, n_mels, n_frames)
        for layer in self.layers:
            h = layer(h)
        pooled = h.mean(axis=3).reshape(batch, -1)  # (batch, channels * n_freq_rows), channel-major
        if self.spectrum_skip:
            pooled = np.concatenate([pooled, x.mean(axis=2)], axis=1)  # + (batch, n_mels)
        return pooled

    def project(self, features: np.ndarray) -> np.ndarray:
        """Pooled features (batch, F) -> latent (batch, latent_dim): ``latent_scale * tanh(head(.))``."""
        (w0, b0), (w1, b1) = self.head
        h = np.maximum(np.asarray(features, dtype=np.float32) @ w0 + b0, 0.0)
        return self.latent_scale * np.tanh(h @ w1 + b1)

    @property
    def n_parameters(self) -> int:
        n = sum(layer.weight.size + layer.shift.size for layer in self.layers)
        return n + sum(w.size + b.size for w, b in self.head)
