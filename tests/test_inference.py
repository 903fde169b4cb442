"""The torch-free runtime (ONNX Runtime / NumPy) against the torch models it was exported from."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from semeq.audio_encoder import DEFAULT_WEIGHTS, AudioEncoder
from semeq.errors import DataError

torch = pytest.importorskip("torch", reason="torch is the reference here: install semeq[train] to compare against it")

MODEL_TOL = 1e-4  # latents, in latent units (the latent spans about +-4.5)
LOG_MEL_TOL_DB = 2e-3  # float32 STFTs in two libraries
WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "semeq" / "weights"


@pytest.fixture(scope="module")
def torch_net():
    from semeq.nn.audio_encoder import load_encoder_checkpoint

    torch.set_num_threads(1)
    return load_encoder_checkpoint(DEFAULT_WEIGHTS)[0]


@pytest.fixture(scope="module")
def clips(data_root):
    from semeq.io import load_audio

    out = []
    for path in sorted((data_root / "music-dev").glob("*.flac"))[:6]:
        audio, sample_rate, _ = load_audio(path)
        assert sample_rate == 44100
        out.append(audio[:, 44100:44100 + 88200])  # one 2 s window from 1 s in
    return out


def _torch_latent(net, window: np.ndarray) -> np.ndarray:
    """The former runtime: torch front end and network on one prepared 2 s window."""
    from semeq.analysis import prepare_audio

    with torch.inference_mode():
        x = torch.as_tensor(prepare_audio(window, 44100.0), dtype=torch.float32)[None]
        return net(x)[0].double().numpy()


@pytest.mark.parametrize("backend", ["onnx", "numpy"])
def test_encoder_matches_torch_on_real_music(backend, torch_net, clips):
    encoder = AudioEncoder.load(backend=backend)
    assert encoder.backend == backend
    for window in clips:
        np.testing.assert_allclose(encoder.encode(window, 44100.0), _torch_latent(torch_net, window), rtol=0, atol=MODEL_TOL)


def test_log_mel_matches_the_torch_front_end(torch_net, clips):
    from semeq import frontend
    from semeq.analysis import prepare_audio

    numpy_front = frontend.LogMel(torch_net.config.mel)
    for window in clips:
        prepared = prepare_audio(window, 44100.0)
        with torch.inference_mode():
            expected = torch_net.front_end(torch.as_tensor(prepared, dtype=torch.float32)[None])[0].numpy()
        got = numpy_front(frontend.stft_power(prepared, center=True))
        assert got.shape == expected.shape
        assert np.max(np.abs(got - expected)) < LOG_MEL_TOL_DB


def test_networks_match_torch_on_the_same_log_mel(torch_net, clips):
    from semeq import frontend

    encoder_onnx = AudioEncoder.load(backend="onnx")
    encoder_numpy = AudioEncoder.load(backend="numpy")
    log_mel = np.stack([encoder_onnx.log_mel(frontend.stft_power(w - w.mean(axis=1, keepdims=True), center=True))
                        for w in clips])
    with torch.inference_mode():
        expected = torch_net.pooled(torch.as_tensor(log_mel)).numpy()
        expected_latent = torch_net.project(torch.as_tensor(expected)).numpy()
    for enc in (encoder_onnx, encoder_numpy):
        pooled = enc._features(log_mel)
        np.testing.assert_allclose(pooled, expected, rtol=0, atol=MODEL_TOL)
        np.testing.assert_allclose(enc.cnn.project(pooled), expected_latent, rtol=0, atol=MODEL_TOL)


def test_eq_vae_matches_torch(rng):
    from semeq.eq_model import EQModel

    model = EQModel.load()
    units = rng.uniform(size=(64, 13))
    latents = 2.0 * rng.standard_normal((64, model.latent_dim))
    mu, logvar = model.encode_unit(units)
    with torch.no_grad():
        t_mu, t_logvar = model.vae.encode_unit(torch.as_tensor(units, dtype=torch.float32))
        t_dec = model.vae.decode_unit(torch.as_tensor(latents, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(mu, t_mu.double().numpy(), rtol=0, atol=MODEL_TOL)
    np.testing.assert_allclose(logvar, t_logvar.double().numpy(), rtol=0, atol=MODEL_TOL)
    np.testing.assert_allclose(model.decode_unit(latents), t_dec, rtol=0, atol=MODEL_TOL)


def test_export_command_writes_a_matching_model(tmp_path, torch_net, clips):
    pytest.importorskip("onnx", reason="exporting needs the onnx package (semeq[train])")
    from semeq.nn.onnx_export import main

    for suffix in (".safetensors", ".json"):
        shutil.copy(WEIGHTS / f"audio_encoder{suffix}", tmp_path / f"audio_encoder{suffix}")
    assert main(["--weights", str(tmp_path)]) == 0
    encoder = AudioEncoder.load(tmp_path, backend="onnx")
    np.testing.assert_allclose(encoder.encode(clips[0], 44100.0), _torch_latent(torch_net, clips[0]), rtol=0, atol=MODEL_TOL)


def test_a_stale_onnx_export_is_refused(tmp_path):
    from safetensors.numpy import load_file, save_file

    for suffix in (".json", ".onnx"):
        shutil.copy(WEIGHTS / f"audio_encoder{suffix}", tmp_path / f"audio_encoder{suffix}")
    tensors = load_file(str(WEIGHTS / "audio_encoder.safetensors"))
    tensors["head.2.bias"] = tensors["head.2.bias"] + np.float32(0.01)  # "retrained", not re-exported
    save_file(tensors, str(tmp_path / "audio_encoder.safetensors"))
    with pytest.raises(DataError, match="re-export"):
        AudioEncoder.load(tmp_path)
    assert AudioEncoder.load(tmp_path, backend="numpy").backend == "numpy"  # the NumPy network needs no export
