"""The training pieces on tiny data: settings, losses, checkpoints, the corpus reader, and
short runs of both loops (seconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semeq.errors import DataError, ParameterError
from semeq.params import GAIN_DB_RANGE, GAIN_INDICES, N_PARAMS, PARAMETERS, EQParams
from semeq.training import losses
from semeq.training.checkpoints import atomic_write_bytes, save_encoder_checkpoint, sha256_of_file
from semeq.training.config import AudioTrainConfig, TrainConfig
from semeq.training.settings import random_settings, random_unit_settings, split_of_model, to_units

GAINS = list(GAIN_INDICES)


# ---------------------------------------------------------------------------- settings
def test_random_settings_zero_prob_one_gives_zero_gains(rng):
    v = random_settings(rng, 200, zero_prob=1.0)
    assert np.all(v[:, GAINS] == 0.0)
    for i, s in enumerate(PARAMETERS):  # every value inside its range
        assert np.all((v[:, i] >= s.low) & (v[:, i] <= s.high))


def test_random_settings_share_of_silent_bands(rng):
    v = random_settings(rng, 20000, zero_prob=0.3)
    share = np.mean(v[:, GAINS] == 0.0)
    assert abs(share - 0.3) < 0.01  # binomial sd 0.0014 over 100000 bands


def test_random_unit_settings_draw_order_and_flat_share():
    calls = []
    gen = np.random.default_rng(5)

    def draw(shape):
        calls.append(shape)
        return gen.uniform(size=shape)

    x = random_unit_settings(draw, 4000, zero_prob=0.0, flat_prob=1.0)
    assert calls == [(4000, N_PARAMS), (4000, len(GAINS)), (4000,)]
    assert np.all(x[:, GAINS] == PARAMETERS[GAINS[0]].to_unit(0.0))
    calls.clear()
    x = random_unit_settings(draw, 4000, zero_prob=0.0, flat_prob=0.0)
    assert calls == [(4000, N_PARAMS), (4000, len(GAINS))]  # no flat draw: the audio encoder's stream
    assert np.all((x >= 0) & (x < 1)) and np.mean(x[:, GAINS] == 0.5) == 0.0


def test_random_unit_settings_torch_draws_keep_dtype():
    gen = torch.Generator().manual_seed(0)
    x = random_unit_settings(lambda s: torch.rand(*s, generator=gen).numpy(), 64, 0.3, 0.05)
    assert x.dtype == np.float32 and x.shape == (64, N_PARAMS)


def test_to_units_inverts_from_unit(rng):
    v = random_settings(rng, 50)
    back = np.stack([s.from_unit(to_units(v)[:, i]) for i, s in enumerate(PARAMETERS)], axis=1)
    np.testing.assert_allclose(back, v, rtol=1e-12, atol=1e-12)


class _FakeModel:
    def __init__(self, split):
        self.meta = {"split": {"row_ids": split}}


def test_split_of_model_follows_the_stored_ids():
    model = _FakeModel({"train": [10, 11], "val": [12], "test": [13]})
    np.testing.assert_array_equal(split_of_model(model, np.array([13, 10, 12, 11])), [2, 0, 1, 0])
    with pytest.raises(DataError, match="not in the EQ model's split"):
        split_of_model(model, np.array([10, 99]))
    with pytest.raises(DataError, match="stores no SAFE split"):
        split_of_model(type("M", (), {"meta": {}})(), np.array([10]))


# ---------------------------------------------------------------------------- losses
def test_supcon_closed_form():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    z = torch.stack([e1, e1, e2, e2])
    loss = losses.supcon_loss(z, torch.tensor([0, 0, 1, 1]), temperature=1.0)
    # Each row: its positive at cosine 1, two negatives at 0 -> -(1 - log(e + 2)).
    assert float(loss) == pytest.approx(math.log(math.e + 2.0) - 1.0, abs=1e-6)
    # A row labelled -1 is ignored.
    z5 = torch.cat([z, torch.tensor([[1.0, 1.0]])])
    assert float(losses.supcon_loss(z5, torch.tensor([0, 0, 1, 1, -1]), 1.0)) == pytest.approx(float(loss), abs=1e-6)


def test_supcon_without_positives_is_zero_and_differentiable():
    z = torch.randn(4, 3, requires_grad=True)
    loss = losses.supcon_loss(z, torch.tensor([0, 1, 2, -1]), 0.5)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.all(z.grad == 0)


def test_param_mask_drops_frequency_and_q_of_silent_bands():
    x = torch.full((1, N_PARAMS), 0.5)  # every gain 0 dB: silent
    low, high = GAIN_DB_RANGE
    x[0, GAINS[2]] = (3.0 - low) / (high - low)  # band 2 (peak 2) at +3 dB
    mask = losses.param_mask(x, silent_gain_db=0.25)
    expected = torch.zeros(N_PARAMS)
    expected[GAINS] = 1.0
    expected[[6, 7]] = 1.0  # band 2's frequency and Q
    torch.testing.assert_close(mask[0], expected)


def test_kl_zero_at_the_prior_and_positive_elsewhere():
    assert float(losses.kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0
    # One dimension with mu = 1, var = 1: KL = 0.5.
    mu = torch.zeros(1, 4)
    mu[0, 0] = 1.0
    assert float(losses.kl_divergence(mu, torch.zeros(1, 4))) == pytest.approx(0.5)


def test_group_centroids_and_prototype_loss():
    mu = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    cent = losses.group_centroids(mu, torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(cent, torch.tensor([[1.0, 0.0], [10.0, 10.0]]))
    # Far-apart groups: the prototype loss is near zero; swapped labels make it large.
    assert float(losses.prototype_loss(mu, torch.tensor([0, 0, 1]), 2, 1.0)) < 1e-6


def test_isometry_loss_zero_when_distances_match():
    resp = torch.tensor([[0.0, 0.0], [4.0, 4.0]])  # mean |dB| difference 4
    mu = torch.tensor([[0.0], [2.0]])  # latent distance 2 = 4 dB / 2 dB per unit
    assert float(losses.isometry_loss(mu, resp, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.isometry_loss(mu, resp, 1.0)) > 0.5


# ---------------------------------------------------------------------------- checkpoints
def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    assert (target.stat().st_mode & 0o777) == 0o644
    import hashlib

    assert sha256_of_file(target) == hashlib.sha256(b"two").hexdigest()
    assert sha256_of_file(tmp_path / "absent") is None and sha256_of_file(None) is None


def test_encoder_checkpoint_round_trip(tmp_path):
    from semeq.nn.audio_encoder import AudioEncoderNet, EncoderConfig, load_encoder_checkpoint

    torch.manual_seed(0)
    net = AudioEncoderNet(EncoderConfig())
    meta = {"format": "semeq-audio-encoder", "encoder_config": net.config.to_dict(),
            "reference": {"spectrum_db": [0.0]}, "neutral_latent": [0.0]}
    save_encoder_checkpoint(tmp_path / "sub" / "audio_encoder", net.state_dict(), meta)
    back, meta_back = load_encoder_checkpoint(tmp_path / "sub" / "audio_encoder")
    for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    assert EncoderConfig.from_dict(meta_back["encoder_config"]) == net.config


# ---------------------------------------------------------------------------- configs
def test_audio_config_records_corpus_fields_only_when_used():
    plain = AudioTrainConfig().to_dict()
    assert "corpus_crops_per_track" not in plain and "use_dev_clips" not in plain
    with_corpus = AudioTrainConfig(corpus_crops_per_track=2).to_dict()
    assert with_corpus["corpus_crops_per_track"] == 2 and with_corpus["use_dev_clips"] is True
    with pytest.raises(ParameterError, match="corpus"):
        AudioTrainConfig(use_dev_clips=False)
    with pytest.raises(ParameterError, match="epochs"):
        TrainConfig(epochs=0)


# ---------------------------------------------------------------------------- the EQ model's loop
def _tiny_prepared(rng, n_per_word=8):
    from semeq.data.safe_db import SafeData
    from semeq.training.eq_data import PreparedData

    words = ["warm", "bright", "thin", "boomy"]
    params, desc = [], []
    for k, w in enumerate(words):
        p = random_settings(rng, n_per_word)
        p[:, GAINS[0]] = 6.0 if w in ("warm", "boomy") else -6.0  # some structure per word
        params.append(p)
        desc += [w] * n_per_word
    params = np.concatenate(params)
    n = len(desc)
    safe = SafeData(descriptors=tuple(desc), params=params, groups=np.arange(n) % 6, row_ids=np.arange(n))
    split = np.zeros(n, dtype=np.int64)
    split[np.arange(n) % 4 == 1] = 1
    split[np.arange(n) % 4 == 3] = 2
    return PreparedData(safe=safe, split=split, audealize=None)


def test_eq_loop_two_steps_is_deterministic_and_learns(rng):
    from semeq.nn.eq_vae import EQVAE, VAEConfig
    from semeq.training.eq_loop import train_vae

    data = _tiny_prepared(rng)
    config = TrainConfig(epochs=2, batch_real=16, batch_synthetic=8, n_word_groups=4, n_train_freqs=24)
    vae_config = VAEConfig(latent_dim=4)
    runs = [train_vae(data, config, vae_config, progress=False, log=lambda s: None) for _ in range(2)]
    (vae_a, hist_a), (vae_b, _) = runs
    assert [row["epoch"] for row in hist_a] == [1, 2]
    assert all(math.isfinite(v) for row in hist_a for v in row.values())
    for (k, a), (_, b) in zip(vae_a.state_dict().items(), vae_b.state_dict().items()):
        assert torch.equal(a, b), k  # same seed, same weights, bit for bit
    torch.manual_seed(config.seed)
    init = EQVAE(vae_config)  # the loop's initial weights: it seeds torch, then builds the VAE
    moved = [not torch.equal(a, b) for a, b in zip(init.state_dict().values(), vae_a.state_dict().values())]
    assert any(moved)


def test_vocabulary_embeds_safe_words_at_their_centroid(rng):
    from semeq.nn.eq_vae import EQVAE, VAEConfig
    from semeq.training.vocabulary import build_vocabulary, encode_mu

    data = _tiny_prepared(rng)
    torch.manual_seed(0)
    vae = EQVAE(VAEConfig(latent_dim=4)).eval()
    entries, emb = build_vocabulary(vae, data)
    words = np.array(data.safe.descriptors)
    for e, z in zip(entries, emb):
        # float32 network: the batched and the per-word encodings differ in the last float32 bits
        np.testing.assert_allclose(z, encode_mu(vae, data.safe.params[words == e["word"]]).mean(axis=0),
                                   rtol=1e-5, atol=1e-7)
        assert e["count"] == 8 and e["confidence"] == pytest.approx(8 / 13, abs=1e-4)


# ---------------------------------------------------------------------------- the audio encoder's loop
def test_audio_loop_two_steps_on_noise_writes_a_loadable_encoder(tmp_path, rng):
    from semeq.analysis import GRID_FREQS_HZ
    from semeq.audio_encoder import AudioEncoder
    from semeq.eq_model import EQModel
    from semeq.fitting import response_db_batch
    from semeq.nn.audio_encoder import AudioEncoderNet, EncoderConfig
    from semeq.training.audio_data import build_sources
    from semeq.training.audio_loop import TrainTensors, bin_gains, fit_targets, make_pairs, train_epochs
    from semeq.training.settings import Settings

    eq_model = EQModel.load()
    config = AudioTrainConfig(epochs=2, batch_size=4, n_train_pairs=4, n_val_pairs=2, fit_steps=5, fit_starts=1)
    torch.manual_seed(0)
    net = AudioEncoderNet(EncoderConfig())
    reference = np.zeros(GRID_FREQS_HZ.size)
    sources = build_sources({}, reference, config, net.front_end, rng, n_pink=2, n_shaped=2)
    assert len(sources) == 4 and list(sources.kind) == ["pink", "pink", "shaped", "shaped"]
    settings = Settings(params=random_settings(rng, 6), word=np.array([0, 0, 1, 1, -1, -1]), words=["a", "b"])
    tr = make_pairs(np.arange(4), settings, 4, 0.0, rng)
    va = make_pairs(np.arange(4), settings, 2, 0.0, rng)
    curves = np.concatenate([sources.balance_db[tr.source] + response_db_batch(tr.params, GRID_FREQS_HZ),
                             sources.balance_db[va.source] + response_db_batch(va.params, GRID_FREQS_HZ),
                             sources.balance_db])
    fitted = fit_targets(curves, config)
    z = eq_model.encode(fitted)
    bins_hz = np.arange(net.config.mel.n_bins) * 44100.0 / net.config.mel.n_fft
    data = TrainTensors(sources=sources, train=tr, val=va, z_train=z[:4], z_val=z[4:6], z_source=z[6:],
                        fitted_train=fitted[:4], gains_train=bin_gains(tr.params, bins_hz), gains_val=bin_gains(va.params, bins_hz))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    written = []

    def on_best(best):
        written.append(best["epoch"])
        save_encoder_checkpoint(tmp_path / "audio_encoder", net.state_dict(), {
            "format": "semeq-audio-encoder", "encoder_config": net.config.to_dict(),
            "reference": {"spectrum_db": reference.tolist()}, "neutral_latent": z[0].tolist(), "best": best})

    history, best = train_epochs(net, eq_model, data, config, rng, show_progress=False, log=lambda s: None,
                                 on_best=on_best, t_start=0.0)
    assert [r["epoch"] for r in history] == [1, 2] and written[0] == 1 and best["epoch"] == written[-1]
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())
    enc = AudioEncoder.load(tmp_path)
    assert enc.encode(rng.standard_normal((2, 44100)) * 0.1, 44100).shape == (eq_model.latent_dim,)


def test_make_pairs_flat_share(rng):
    from semeq.training.audio_loop import make_pairs
    from semeq.training.settings import Settings

    settings = Settings(params=random_settings(rng, 10), word=np.arange(10) % 3, words=["a", "b", "c"])
    pairs = make_pairs(np.array([3, 7]), settings, 2000, 1.0, rng)
    assert set(pairs.source.tolist()) == {3, 7}
    assert np.all(pairs.params == EQParams.flat().to_vector()) and np.all(pairs.word == -1)


def test_batch_log_mel_without_augmentation_draws_nothing(rng):
    from semeq.nn.audio_encoder import AudioEncoderNet, EncoderConfig
    from semeq.training.audio_data import Sources
    from semeq.training.audio_loop import batch_log_mel

    net = AudioEncoderNet(EncoderConfig())
    power = torch.ones(2, net.config.mel.n_bins, 10)
    sources = Sources(power=power, balance_db=np.zeros((2, 60)), kind=np.array(["pink"] * 2), clip=np.array(["", ""]))
    state = rng.bit_generator.state
    out = batch_log_mel(net, sources, np.array([0, 1]), torch.ones(2, net.config.mel.n_bins), rng, AudioTrainConfig(), augment=False)
    assert rng.bit_generator.state == state
    assert out.shape == (2, net.config.mel.n_mels, 10)
    # The front end normalises level: a 6 dB (power x4) gain on every bin changes nothing; on
    # the upper half of the bins only, the top mel bands rise 6.02 dB against the lowest.
    n_bins = net.config.mel.n_bins
    out4 = batch_log_mel(net, sources, np.array([0, 1]), 4 * torch.ones(2, n_bins), rng, AudioTrainConfig(), augment=False)
    np.testing.assert_allclose(out4.numpy(), out.numpy(), atol=1e-3)
    upper = torch.ones(2, n_bins)
    upper[:, n_bins // 2:] = 4.0
    tilt = (batch_log_mel(net, sources, np.array([0, 1]), upper, rng, AudioTrainConfig(), augment=False) - out).numpy()
    assert tilt[:, -1] - tilt[:, 0] == pytest.approx(np.full_like(tilt[:, 0], 10 * np.log10(4.0)), abs=0.01)


# ---------------------------------------------------------------------------- the corpus reader
def _write_manifest(path, rows, columns=("track_id", "package", "version", "license", "source_path", "cache_path",
                                         "sha256", "duration_s", "sample_rate", "channels", "codec", "split")):
    import csv

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([r.get(c, "") for c in columns])


def test_music_manifest_and_crops(tmp_path, rng):
    import soundfile as sf

    from semeq.training.audio_data import corpus_crops, crop_views, read_music_manifest

    cache = tmp_path / "cache"
    (cache / "pkg").mkdir(parents=True)
    sf.write(cache / "pkg" / "long.flac", 0.1 * rng.standard_normal((48000 * 5, 2)), 48000)
    sf.write(cache / "pkg" / "short.flac", 0.1 * rng.standard_normal((1000, 1)), 48000)
    manifest = tmp_path / "manifest.csv"
    _write_manifest(manifest, [
        {"track_id": "a", "package": "pkg", "cache_path": "pkg/long.flac", "split": "train"},
        {"track_id": "b", "package": "pkg", "cache_path": "pkg/short.flac", "split": "train"},
        {"track_id": "c", "package": "pkg", "cache_path": "pkg/missing.flac", "split": "validation"},
    ])
    tracks = read_music_manifest(manifest, cache)
    assert [t.split for t in tracks] == ["train", "train", "validation"]
    logged = []
    crops, names = corpus_crops(tracks, 3, rng, log=logged.append)
    assert len(crops) == 3 and names == ["pkg/a"] * 3
    assert all(c.shape == (2, 88200) for c in crops)  # resampled to 44.1 kHz, 2 s
    assert "skipped 2 track(s)" in logged[0]
    views = crop_views(crops[0])
    assert [v.shape[0] for v in views] == [2, 1]
    np.testing.assert_allclose(views[1][0], crops[0].mean(axis=0))


@pytest.mark.parametrize("problem", ["column", "split"])
def test_bad_music_manifest_is_a_data_error(tmp_path, problem):
    from semeq.training.audio_data import read_music_manifest

    manifest = tmp_path / "m.csv"
    if problem == "column":
        _write_manifest(manifest, [], columns=("track_id", "package", "split"))
        match = "lacks column"
    else:
        _write_manifest(manifest, [{"track_id": "a", "package": "p", "cache_path": "x", "split": "dev"}])
        match = "split must be"
    with pytest.raises(DataError, match=match):
        read_music_manifest(manifest, tmp_path)


@pytest.mark.parametrize("extra, match", [
    (["--no-dev-clips"], "need --music-manifest"),
    (["--music-manifest", "m.csv", "--music-cache", "/nonexistent/cache"], "is not a folder"),
    (["--music-manifest", "m.csv", "--corpus-crops", "0"], "--corpus-crops"),
])
def test_train_audio_corpus_options_fail_in_one_line(capsys, tmp_path, data_root, extra, match):
    from semeq.cli import main

    code = main(["train", "audio", "--data", str(data_root), "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("semeq: error:") and err.count("\n") == 1 and match in err
