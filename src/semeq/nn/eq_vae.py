"""The EQ VAE: 13 normalised SAFE parameters <-> a latent vector (32-D by default)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import ParameterError
from ..params import N_PARAMS

__all__ = ["VAEConfig", "EQVAE"]


@dataclass(frozen=True, kw_only=True)
class VAEConfig:
    """Architecture of :class:`EQVAE`.

    Attributes
    ----------
    latent_dim : int
        Size of the latent space (32 in the shipped model).
    hidden_dim : int
        Width of the hidden layers of encoder and decoder.
    n_hidden : int
        Hidden layers in each of encoder and decoder.
    """

    latent_dim: int = 32
    hidden_dim: int = 256
    n_hidden: int = 2

    def __post_init__(self) -> None:
        for name, low in (("latent_dim", 1), ("hidden_dim", 1), ("n_hidden", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ParameterError(f"VAEConfig.{name} must be an integer >= {low}, got {value!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def _mlp(n_in: int, n_hidden_units: int, n_hidden: int, n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_hidden):
        layers += [nn.Linear(width, n_hidden_units), nn.SiLU()]
        width = n_hidden_units
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class EQVAE(nn.Module):
    """Variational auto-encoder of SAFE EQ settings.

    The encoder maps the 13 normalised parameters (:meth:`semeq.params.EQParams.to_unit_vector`)
    to the mean and log-variance of a diagonal Gaussian; the decoder maps a latent vector back
    to 13 values in [0, 1] through a sigmoid.

    Parameters
    ----------
    config : VAEConfig
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        c = self.config
        self.encoder = _mlp(N_PARAMS, c.hidden_dim, c.n_hidden, 2 * c.latent_dim)
        self.decoder = _mlp(c.latent_dim, c.hidden_dim, c.n_hidden, N_PARAMS)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode_unit(self, x_unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior of normalised settings.

        Parameters
        ----------
        x_unit : Tensor [shape=(batch, 13)]
            Normalised parameters in [0, 1].

        Returns
        -------
        mu, logvar : Tensor [shape=(batch, latent_dim)]
        """
        h = self.encoder(x_unit * 2.0 - 1.0)  # centred inputs
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 6.0)

    def decode_unit(self, z: torch.Tensor) -> torch.Tensor:
        """Latent vectors (batch, latent_dim) -> normalised parameters (batch, 13) in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x_unit: torch.Tensor, *, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample (or take the mean), decode: returns ``(x_hat_unit, z, mu, logvar)``."""
        mu, logvar = self.encode_unit(x_unit)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return self.decode_unit(z), z, mu, logvar
