"""``AnalyticEncoder``: where a recording stands, computed instead of learned.

The analytic baseline of the audio encoder (:class:`semeq.audio_encoder.AudioEncoder`), with
the same ``encode(audio, sample_rate)``:

1. the recording's long-term balance against the reference (:func:`semeq.analysis.balance_db`:
   Welch LTAS on the analysis grid, 1/3-octave smoothed, level-normalised over 100 Hz-10 kHz);
2. the 5-band EQ fitted to that balance (:func:`semeq.fitting.fit_eq` with
   :data:`semeq.analysis.FIT_WEIGHTS`, as :func:`semeq.analysis.analytic_eq`);
3. the EQ model's latent of that EQ (the VAE encoder's posterior mean).

A balance cannot see level, so the fitted EQ puts its broadband level at the band mean; the CNN
was trained to place it as SAFE users do. Audio without usable energy gets the flat EQ's latent,
as with the CNN. Select it with ``SemanticEQ(encoder="analytic")``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .analysis import (
    ANALYSIS_SAMPLE_RATE,
    FIT_WEIGHTS,
    GRID_FREQS_HZ,
    MIN_ACTIVE_FRAMES,
    active_frames,
    balance_db,
    prepare_audio,
    reference_spectrum_db,
)
from .errors import ParameterError

__all__ = ["AnalyticEncoder", "ENCODERS", "select_encoder"]

ENCODERS = ("cnn", "analytic")
BALANCE_STEP_DB = 0.01
"""The balance is rounded to this step before the fit (see :meth:`AnalyticEncoder.fit`)."""
"""The encoders ``SemanticEQ(encoder=...)`` accepts."""


class AnalyticEncoder:
    """Balance -> fitted 5-band EQ -> the EQ model's latent.

    Parameters
    ----------
    eq_model : EQModel, optional
        Whose latent space the answer lives in (default: the shipped model).
    reference_db : ndarray [shape=(60,)], optional
        Reference balance on :data:`semeq.analysis.GRID_FREQS_HZ` (default: the one shipped with
        the audio encoder, :func:`semeq.analysis.reference_spectrum_db`, so both encoders measure
        against the same music).

    Attributes
    ----------
    reference_db : ndarray [shape=(60,)]
    neutral_latent : ndarray [shape=(latent_dim,)]
        The flat EQ's latent, the answer for audio without usable energy.
    meta : dict
        ``{"encoder": "analytic"}`` (no ``eq_model_sha256``: it is built on the model it is given).

    Examples
    --------
    >>> enc = AnalyticEncoder()
    >>> enc.encode(np.zeros((2, 44100)), 44100).shape
    (32,)
    """

    def __init__(self, eq_model=None, reference_db: np.ndarray | None = None) -> None:
        from .params import EQParams

        if eq_model is None:
            from .eq_model import EQModel

            eq_model = EQModel.load()
        self.eq_model = eq_model
        ref = reference_spectrum_db() if reference_db is None else np.asarray(reference_db, dtype=np.float64)
        if ref.shape != GRID_FREQS_HZ.shape or not np.all(np.isfinite(ref)):
            raise ParameterError(f"reference_db must be {GRID_FREQS_HZ.size} finite values on GRID_FREQS_HZ, got shape {ref.shape}")
        self.reference_db = ref
        self.neutral_latent = np.asarray(eq_model.encode(EQParams.flat()), dtype=np.float64)
        self.meta = {"encoder": "analytic"}

    @property
    def latent_dim(self) -> int:
        return int(self.eq_model.latent_dim)

    def fit(self, audio: np.ndarray, sample_rate: float):
        """The fitted 5-band EQ (:class:`semeq.fitting.FitResult`), or None without usable energy."""
        from .fitting import fit_eq

        prepared = prepare_audio(audio, sample_rate)  # validates, resamples to 44.1 kHz, removes DC
        if int(active_frames(prepared).sum()) < MIN_ACTIVE_FRAMES:
            return None
        # The fit is a non-convex multi-start search: inputs that differ by rounding noise (the
        # same music 30 dB quieter) can land in different optima whose latents decode apart by
        # dB. Quantising the balance to BALANCE_STEP_DB makes such inputs one input.
        balance = np.round(balance_db(prepared, ANALYSIS_SAMPLE_RATE, self.reference_db) / BALANCE_STEP_DB) * BALANCE_STEP_DB
        return fit_eq(balance, GRID_FREQS_HZ, ANALYSIS_SAMPLE_RATE, weights=FIT_WEIGHTS)

    def encode(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Latent of a recording.

        Parameters
        ----------
        audio : ndarray [shape=(channels, samples)]
            Any number of channels, any length, any rate (resampled to 44.1 kHz).
        sample_rate : float
            In Hz.

        Returns
        -------
        latent : ndarray [shape=(latent_dim,)], float64
            :attr:`neutral_latent` for audio without usable energy.

        Raises
        ------
        ParameterError
            If the audio is not 2-D, is empty or not finite, or the rate is out of range.
        """
        fit = self.fit(audio, sample_rate)
        if fit is None:
            return self.neutral_latent.copy()
        return np.asarray(self.eq_model.encode(fit.params), dtype=np.float64)

    def __repr__(self) -> str:
        return f"AnalyticEncoder(latent_dim={self.latent_dim})"


def select_encoder(encoder: Literal["cnn", "analytic"], eq_model, audio_encoder=None):
    """The audio encoder ``SemanticEQ(encoder=...)`` uses.

    ``"cnn"``: ``audio_encoder`` as given (None: the caller loads the shipped one).
    ``"analytic"``: an :class:`AnalyticEncoder` on ``eq_model``, measuring against the given
    audio encoder's reference when one is given.

    Raises
    ------
    ParameterError
        For any other name.
    """
    if encoder == "cnn":
        return audio_encoder
    if encoder == "analytic":
        return AnalyticEncoder(eq_model, getattr(audio_encoder, "reference_db", None))
    raise ParameterError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
