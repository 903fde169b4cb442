"""Differentiable magnitude response of the SAFE 5-band EQ in torch.

The same RBJ cookbook sections as :mod:`semeq.dsp.biquad`, written with torch so that a loss
on the dB response can be back-propagated to the 13 parameters (or to a network producing
them). Closed forms without cancellation keep float32 (what training uses) within 3e-4 dB
of :func:`semeq.dsp.eq_response`; float64 within about 1e-9 dB (tests/test_response.py).

Notes
-----
R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter coefficients", with the
magnitude written in terms of ``phi = sin^2(w/2)`` as the cookbook suggests.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..dsp.biquad import NYQUIST_FRACTION
from ..errors import ParameterError
from ..params import PARAMETERS, SHELF_Q

__all__ = ["eq_response_db", "unit_to_physical", "physical_to_unit", "EQResponse"]

_GAIN_COLS = [0, 2, 5, 8, 11]
_FREQ_COLS = [1, 3, 6, 9, 12]
_Q_COLS = [4, 7, 10]
_LOG_LOW = torch.tensor([math.log(s.low) if s.scale == "log" else s.low for s in PARAMETERS], dtype=torch.float64)
_LOG_HIGH = torch.tensor([math.log(s.high) if s.scale == "log" else s.high for s in PARAMETERS], dtype=torch.float64)
_IS_LOG = torch.tensor([s.scale == "log" for s in PARAMETERS])


def unit_to_physical(x_unit: torch.Tensor) -> torch.Tensor:
    """Map normalised parameters to physical units, as :meth:`semeq.params.ParamSpec.from_unit`.

    Parameters
    ----------
    x_unit : Tensor [shape=(..., 13)]
        Values in [0, 1] (not clipped here).

    Returns
    -------
    params : Tensor [shape=(..., 13)]
        Gains in dB, frequencies in Hz, Q; same dtype as ``x_unit``.
    """
    low = _LOG_LOW.to(x_unit)
    high = _LOG_HIGH.to(x_unit)
    lin = low + x_unit * (high - low)
    return torch.where(_IS_LOG.to(x_unit.device), torch.exp(lin), lin)


def physical_to_unit(params: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`unit_to_physical`. ``params`` [shape=(..., 13)] -> [0, 1] values."""
    low = _LOG_LOW.to(params)
    high = _LOG_HIGH.to(params)
    is_log = _IS_LOG.to(params.device)
    val = torch.where(is_log, torch.log(torch.where(is_log, params, torch.ones_like(params))), params)
    return (val - low) / (high - low)


def eq_response_db(params: torch.Tensor, freqs_hz: torch.Tensor | np.ndarray, sample_rate: float = 44100.0) -> torch.Tensor:
    """Magnitude response in dB of a batch of SAFE EQs, differentiable in ``params``.

    Parameters
    ----------
    params : Tensor [shape=(batch, 13)]
        Physical values in SAFE order (gain dB, freq Hz, Q), float32 or float64. The closed
        forms below have no cancellation, so float32 matches :func:`semeq.dsp.eq_response`
        within 3e-4 dB (8-96 kHz) and float64 to about 1e-9 dB.
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
    With ``s = sin^2(w0/2)``, ``p = sin^2(w/2)``, ``A = 10^(gain/40)`` and the cookbook's
    ``alpha = sin(w0) / (2 Q)``, the RBJ sections have

    - peak: ``|H|^2 = ((s-p)^2 + A^2 alpha^2 p(1-p)) / ((s-p)^2 + alpha^2/A^2 p(1-p))``
    - low shelf: ``|H|^2 = A^2 ((A s(1-p) - p(1-s))^2 + A alpha^2 p(1-p)) / ((s(1-p) - A p(1-s))^2 + A alpha^2 p(1-p))``
    - high shelf: the low shelf with ``s -> 1-s`` and ``p -> 1-p`` (``z -> -z``),

    obtained from the cookbook's ``phi = sin^2(w/2)`` form of the biquad magnitude by summing
    the coefficients analytically. ``s - p`` is computed as ``sin((w0-w)/2) sin((w0+w)/2)``.

    Examples
    --------
    >>> p = torch.tensor([[0, 150, 0, 560, 0.71, 6.0, 1000, 1.0, 0, 3300, 0.71, 0, 8200]], dtype=torch.float64)
    >>> round(float(eq_response_db(p, torch.tensor([1000.0]))[0, 0]), 6)
    6.0
    """
    if params.ndim != 2 or params.shape[-1] != 13:
        raise ParameterError(f"params must have shape (batch, 13), got {tuple(params.shape)}")
    dtype = params.dtype
    freqs = torch.as_tensor(freqs_hz, dtype=dtype, device=params.device).reshape(1, 1, -1)  # (1, 1, F)
    half_w = math.pi * freqs / float(sample_rate)
    sin_hw, cos_hw = torch.sin(half_w), torch.cos(half_w)
    p = sin_hw * sin_hw  # sin^2(w/2)
    p1 = cos_hw * cos_hw  # 1 - p
    pp = p * p1  # p (1 - p)

    gain_db = params[:, _GAIN_COLS].unsqueeze(-1)  # (B, 5, 1)
    freq_hz = torch.clamp(params[:, _FREQ_COLS], max=NYQUIST_FRACTION * sample_rate / 2.0).unsqueeze(-1)
    shelf_q = torch.full_like(params[:, :1], SHELF_Q)
    q = torch.cat([shelf_q, params[:, _Q_COLS], shelf_q], dim=1).unsqueeze(-1)  # (B, 5, 1)
    ln10_40 = math.log(10.0) / 40.0
    half_w0 = math.pi * freq_hz / float(sample_rate)
    sin_hw0, cos_hw0 = torch.sin(half_w0), torch.cos(half_w0)
    s, s1 = sin_hw0 * sin_hw0, cos_hw0 * cos_hw0
    alpha2 = (2.0 * sin_hw0 * cos_hw0 / (2.0 * q)) ** 2  # alpha^2, sin(w0) = 2 sin cos

    # Peaks, bands 1-3: A^2 = 10^(g/20).
    a2 = torch.exp(2.0 * ln10_40 * gain_db[:, 1:4])
    diff = torch.sin(half_w0[:, 1:4] - half_w) * torch.sin(half_w0[:, 1:4] + half_w)  # s - p, (B, 3, F)
    d2 = diff * diff
    al2pp = alpha2[:, 1:4] * pp
    peaks_db = (10.0 / math.log(10.0)) * (torch.log(d2 + a2 * al2pp) - torch.log(d2 + al2pp / a2))

    def shelf_db(a_s, s_, s1_, p_, p1_, al2):
        # Low-shelf closed form; the high shelf calls it with s, p swapped for 1-s, 1-p.
        num = (a_s * s_ * p1_ - p_ * s1_) ** 2 + a_s * al2 * pp
        den = (s_ * p1_ - a_s * p_ * s1_) ** 2 + a_s * al2 * pp
        return (10.0 / math.log(10.0)) * (2.0 * torch.log(a_s) + torch.log(num) - torch.log(den))

    a_low = torch.exp(ln10_40 * gain_db[:, :1])
    a_high = torch.exp(ln10_40 * gain_db[:, 4:])
    low_db = shelf_db(a_low, s[:, :1], s1[:, :1], p, p1, alpha2[:, :1])
    high_db = shelf_db(a_high, s1[:, 4:], s[:, 4:], p1, p, alpha2[:, 4:])
    return low_db.sum(dim=1) + peaks_db.sum(dim=1) + high_db.sum(dim=1)


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
