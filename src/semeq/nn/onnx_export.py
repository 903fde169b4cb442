"""Export the audio encoder's CNN to ONNX, for the torch-free runtime (needs ``semeq[train]``).

Usage (from a checkout with the ``train`` extra installed)::

    python -m semeq.nn.onnx_export                      # the shipped src/semeq/weights/audio_encoder
    python -m semeq.nn.onnx_export --weights DIR_OR_STEM

writes ``audio_encoder.onnx`` beside the ``.safetensors`` it reads. The graph is
:meth:`semeq.nn.audio_encoder.AudioEncoderNet.pooled`: log-mel ``(batch, n_mels, frames)`` ->
time-pooled features; the front end and the projection head run in NumPy
(:mod:`semeq.frontend`, :class:`semeq.inference.EncoderCNN`). The file's metadata records the
SHA-256 of the source ``.safetensors``; :class:`semeq.audio_encoder.AudioEncoder` refuses an
export whose weights changed since. Re-run this after every encoder training.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

__all__ = ["export_encoder_onnx", "main"]

OPSET = 17


def export_encoder_onnx(stem: str | Path | None = None) -> Path:
    """Export ``stem.safetensors`` (+ ``.json``) to ``stem.onnx``, atomically; return its path."""
    import torch

    from ..audio_encoder import DEFAULT_WEIGHTS, ONNX_FORMAT
    from .audio_encoder import load_encoder_checkpoint

    stem = Path(stem) if stem is not None else DEFAULT_WEIGHTS
    if stem.is_dir():
        stem = stem / "audio_encoder"
    elif stem.suffix in (".safetensors", ".json", ".onnx"):
        stem = stem.with_suffix("")
    net, meta = load_encoder_checkpoint(stem)
    source_sha = hashlib.sha256(stem.with_suffix(".safetensors").read_bytes()).hexdigest()

    class Features(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, log_mel_db: torch.Tensor) -> torch.Tensor:
            return self.net.pooled(log_mel_db)

    config = net.config
    n_frames = 1 + config.window_samples // config.mel.hop_length
    example = torch.zeros(1, config.mel.n_mels, n_frames)
    out = stem.with_suffix(".onnx")
    tmp = out.with_name(out.name + ".tmp")
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export's, which needs onnxscript;
        # this small static graph exports identically either way.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(Features().eval(), (example,), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=["log_mel_db"], output_names=["features"],
                          dynamic_axes={"log_mel_db": {0: "batch", 2: "frames"}, "features": {0: "batch"}})
    import onnx

    model = onnx.load(str(tmp))
    for key, value in (("format", ONNX_FORMAT), ("source_sha256", source_sha),
                       ("source", stem.with_suffix(".safetensors").name)):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(tmp))
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m semeq.nn.onnx_export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", metavar="PATH", help="encoder folder, stem or file (default: the shipped one)")
    args = parser.parse_args(argv)
    print(f"wrote {export_encoder_onnx(args.weights)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
