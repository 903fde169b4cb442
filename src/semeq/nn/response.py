"""Differentiable magnitude response of the SAFE 5-band EQ in torch (training only).

The torch twin of :func:`semeq.dsp.biquad.response_db_batch`: it reads the band layout from
:data:`semeq.params.BANDS` and evaluates the one closed form,
:func:`semeq.dsp.biquad.closed_form_response_db`, with torch as its array namespace, so a loss on
the dB response can be back-propagated to the 13 parameters (or to a network producing them).
Float32 (what training uses) stays within 1e-3 dB of :func:`semeq.dsp.eq_response` and float64
within 1e-6 dB (tests/test_response.py).
"""

from __future__ import annotations

import numpy as np
import torch

from ..dsp.biquad import closed_form_response_db
from ..errors import ParameterError
from ..params import BANDS, N_PARAMS, SHELF_Q, UNIT_HIGHS, UNIT_LOWS, PARAMETERS

__all__ = ["eq_response_db", "unit_to_physical", "physical_to_unit", "EQResponse"]

_BAND_KINDS = tuple(b.kind for b in BANDS)
_GAIN_COLS = [b.gain_col for b in BANDS]
_FREQ_COLS = [b.freq_col for b in BANDS]
_IS_LOG = torch.tensor([s.scale == "log" for s in PARAMETERS])
_UNIT_LOW = torch.as_tensor(UNIT_LOWS.copy())
_UNIT_HIGH = torch.as_tensor(UNIT_HIGHS.copy())


def unit_to_physical(x_unit: torch.Tensor) -> torch.Tensor:
    """Map normalised parameters to physical units: :func:`semeq.params.values_from_unit` in torch.

    Parameters
    ----------
    x_unit : Tensor [shape=(..., 13)]
        Values in [0, 1] (not clipped here).

    Returns
    -------
    params : Tensor [shape=(..., 13)]
        Gains in dB, frequencies in Hz, Q; same dtype as ``x_unit``.
    """
    low = _UNIT_LOW.to(x_unit)
    high = _UNIT_HIGH.to(x_unit)
    lin = low + x_unit * (high - low)
    return torch.where(_IS_LOG.to(x_unit.device), torch.exp(lin), lin)


def physical_to_unit(params: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`unit_to_physical`. ``params`` [shape=(..., 13)] -> [0, 1] values."""
    low = _UNIT_LOW.to(params)
    high = _UNIT_HIGH.to(params)
    is_log = _IS_LOG.to(params.device)
    val = torch.where(is_log, torch.log(torch.where(is_log, params, torch.ones_like(params))), params)
    return (val - low) / (high - low)


def eq_response_db(params: torch.Tensor, freqs_hz: torch.Tensor | np.ndarray, sample_rate: float = 44100.0) -> torch.Tensor:
    """Magnitude response in dB of a batch of SAFE EQs, differentiable in ``params``.

    Parameters
    ----------
    params : Tensor [shape=(batch, 13)]
        Physical values in SAFE order (gain dB, freq Hz, Q), float32 or float64.
    freqs_hz : Tensor or ndarray [shape=(n_freqs,)]
        Evaluation frequencies in Hz, in [0, sample_rate / 2].
    sample_rate : float
        Sample rate of the digital filters; centre frequencies are clamped to
        ``NYQUIST_FRACTION * sample_rate / 2`` as in :func:`semeq.dsp.design_sos`.

    Returns
    -------
    response_db : Tensor [shape=(batch, n_freqs)]
        Same dtype as ``params``.

    Notes
    -----
    The closed form and its derivation are in :func:`semeq.dsp.biquad.closed_form_response_db`.

    Examples
    --------
    >>> p = torch.tensor([[0, 150, 0, 560, 0.71, 6.0, 1000, 1.0, 0, 3300, 0.71, 0, 8200]], dtype=torch.float64)
    >>> round(float(eq_response_db(p, torch.tensor([1000.0]))[0, 0]), 6)
    6.0
    """
    if params.ndim != 2 or params.shape[-1] != N_PARAMS:
        raise ParameterError(f"params must have shape (batch, {N_PARAMS}), got {tuple(params.shape)}")
    freqs = torch.as_tensor(freqs_hz, dtype=params.dtype, device=params.device).reshape(-1)
    shelf_q = torch.full_like(params[:, 0], SHELF_Q)
    q = torch.stack([params[:, b.q_col] if b.q_col is not None else shelf_q for b in BANDS], dim=1)  # (B, 5)
    return closed_form_response_db(torch, _BAND_KINDS, params[:, _GAIN_COLS], params[:, _FREQ_COLS], q, freqs,
                                   float(sample_rate))


class EQResponse(torch.nn.Module):
    """Module form of :func:`eq_response_db` with a fixed frequency grid kept as a buffer.

    Parameters
    ----------
    freqs_hz : ndarray [shape=(n_freqs,)]
        Evaluation grid in Hz.
    sample_rate : float
        Sample rate of the digital filters.
    """

    def __init__(self, freqs_hz: np.ndarray, sample_rate: float = 44100.0) -> None:
        super().__init__()
        self.sample_rate = float(sample_rate)
        self.register_buffer("freqs_hz", torch.as_tensor(np.asarray(freqs_hz, dtype=np.float64)), persistent=False)

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        """``params`` (batch, 13) physical -> (batch, n_freqs) dB."""
        return eq_response_db(params, self.freqs_hz.to(params.dtype), self.sample_rate)
