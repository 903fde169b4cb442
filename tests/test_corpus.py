"""The music corpus: manifest, splits, licences, refusal of reserved packages, the builder."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from semeq.corpus import (
    MANIFEST_COLUMNS,
    Track,
    default_cache_dir,
    iter_audio,
    load_manifest,
    write_manifest,
)
from semeq.corpus.build import MIN_DURATION_S, build_corpus
from semeq.corpus.licenses import license_for_path, parse_copyright, recognise_license
from semeq.corpus.packages import CURATED, DEV_PACKAGES, RESERVED_PATTERNS, PackageSpec, check_allowed, is_reserved
from semeq.corpus.split import assign_splits
from semeq.errors import DataError, ParameterError

RESERVED_NAMES = (
    "wesnoth-music", "wesnoth-1.16-music", "wesnoth-1.14-music", "wesnoth-1.18-music", "drascula-music",
    "fretsonfire-songs-muldjord", "hedgewars-data", "openclonk-data", "nexuiz-music",
    "colobot-common-sounds", "singularity-music", "hyperrogue-music", "lincity-ng-data",
)


def _track(i: int, package: str, split: str = "train", **kw) -> Track:
    values = dict(track_id=f"{package}/t{i}", package=package, version="1.0-1", license="GPL-2+",
                  source_path=f"usr/share/games/{package}/music/t, {i}.ogg", cache_path=f"audio/{package}/t{i}.ogg",
                  sha256=f"{i:064x}", duration_s=61.25 + i, sample_rate=44100, channels=2, codec="vorbis", split=split)
    values.update(kw)
    return Track(**values)


# --- manifest -------------------------------------------------------------------------------------

def test_manifest_round_trip_keeps_every_field(tmp_path):
    tracks = [_track(0, "a-data"), _track(1, "b-music", "test", channels=1, sample_rate=48000, codec="opus")]
    path = write_manifest(tracks, tmp_path / "corpus" / "manifest.csv")
    assert load_manifest(path) == tracks
    with open(path, newline="") as fh:
        assert tuple(next(csv.reader(fh))) == MANIFEST_COLUMNS  # others read these exact columns


def test_manifest_columns_match_track_fields():
    from semeq.corpus.manifest import _field_names

    assert _field_names() == MANIFEST_COLUMNS


def test_manifest_missing_column_and_bad_split_are_data_errors(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("track_id,package\nx,y\n")
    with pytest.raises(DataError, match="lacks column"):
        load_manifest(p)
    write_manifest([_track(0, "a")], p)
    p.write_text(p.read_text().replace(",train", ",holdout"))
    with pytest.raises(DataError, match="split 'holdout'"):
        load_manifest(p)
    with pytest.raises(DataError, match="not found"):
        load_manifest(tmp_path / "absent.csv")


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMEQ_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SEMEQ_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "semeq" / "corpus"


def test_iter_audio_names_the_rebuild_command_when_the_cache_is_missing(tmp_path):
    with pytest.raises(DataError, match="semeq corpus build"):
        list(iter_audio([_track(0, "a")], tmp_path))


def test_iter_audio_reads_channels_first_float64_and_max_seconds(tmp_path):
    sample_rate = 8000
    t = np.arange(3 * sample_rate) / sample_rate
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 220 * t)])
    (tmp_path / "audio" / "a").mkdir(parents=True)
    sf.write(tmp_path / "audio/a/t0.flac", stereo.T, sample_rate, subtype="PCM_24")
    track = _track(0, "a", cache_path="audio/a/t0.flac")
    [(got_track, audio, rate)] = list(iter_audio([track], tmp_path, max_seconds=1.5))
    assert got_track == track and rate == sample_rate and audio.dtype == np.float64
    assert audio.shape == (2, int(1.5 * sample_rate))
    np.testing.assert_allclose(audio, stereo[:, : audio.shape[1]], atol=2.0 ** -22)
    with pytest.raises(ParameterError, match="max_seconds"):
        next(iter_audio([track], tmp_path, max_seconds=0))


# --- splits ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(20))
def test_split_is_by_package_disjoint_and_respects_pins(seed):
    rng = np.random.default_rng(seed)
    hours = {f"pkg{i}": float(h) for i, h in enumerate(rng.exponential(1.0, size=int(rng.integers(3, 40))))}
    names = sorted(hours)
    pinned = {names[0]: "test", names[1]: "train"}
    split_of = assign_splits(hours, pinned=pinned)
    assert set(split_of) == set(hours) and set(split_of.values()) <= {"train", "validation", "test"}
    assert all(split_of[n] == s for n, s in pinned.items())
    # tracks of one package never cross splits
    tracks = [_track(i, n, split_of[n]) for i, n in enumerate(rng.choice(names, size=200))]
    splits_per_package = defaultdict(set)
    for t in tracks:
        splits_per_package[t.package].add(t.split)
    assert all(len(s) == 1 for s in splits_per_package.values())
    assert assign_splits(hours, pinned=pinned) == split_of  # deterministic


def test_split_reaches_the_target_fractions_with_many_small_packages():
    hours = {f"p{i:03d}": 0.1 + 0.001 * i for i in range(300)}
    split_of = assign_splits(hours)
    total = sum(hours.values())
    for split, target in (("train", 0.70), ("validation", 0.15), ("test", 0.15)):
        share = sum(h for n, h in hours.items() if split_of[n] == split) / total
        assert abs(share - target) < 0.01  # one package is 1/300 of the hours


def test_curated_split_pins_the_development_packages_to_train():
    pins = {s.name: s.split for s in CURATED}
    for name in DEV_PACKAGES:
        assert pins.get(name, "train") == "train", name
    assert {s.split for s in CURATED if s.split} >= {"train", "test"}


# --- reserved packages ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", RESERVED_NAMES)
def test_every_reserved_package_is_refused(name, tmp_path):
    assert is_reserved(name) and is_reserved(name.upper())
    with pytest.raises(ParameterError, match="reserved"):
        check_allowed(name)
    with pytest.raises(ParameterError, match="reserved"):
        PackageSpec(name=name, why="", genres=())
    fake = _FakeApt({})
    spec = object.__new__(PackageSpec)  # bypass __post_init__: the builder must refuse on its own
    object.__setattr__(spec, "name", name)
    with pytest.raises(ParameterError, match="reserved"):
        build_corpus(tmp_path / "cache", tmp_path / "m.csv", packages=[spec], apt=fake, progress=False)
    assert fake.downloads == []


def test_no_curated_package_is_reserved_and_neighbours_are_not_refused():
    assert not any(is_reserved(s.name) for s in CURATED)
    assert len({s.name for s in CURATED}) == len(CURATED)
    for ok in ("wesnoth-data", "fretsonfire-songs-sectoid", "hedgewars", "ufoai-music"):
        assert not is_reserved(ok), ok
    assert len(RESERVED_PATTERNS) == 10


def test_the_cli_refuses_a_reserved_package(capsys):
    from semeq.cli import main

    assert main(["corpus", "build", "--package", "hedgewars-data", "--no-progress"]) == 2
    assert "reserved for independent evaluation" in capsys.readouterr().err


# --- licences -------------------------------------------------------------------------------------

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: game

Files: *
Copyright: 2010 The Team
License: GPL-2+

Files:
 base/music/David01.ogg
 base/music/David02.ogg
Copyright: 2008 David
License: CC-BY-3.0

Files: base/music/Crystan-*
Copyright: 2009 Crystan
License: CC-BY-SA-3.0
 Long text of the licence, mentioning GPL-3 in passing.

Files: debian/*
Copyright: 2020 Maintainer
License: GPL-2+
"""


def test_a_file_name_pattern_beats_files_star():
    text = ("Files: *\nCopyright: a\nLicense: GPL-2\n\nFiles: *.png\n       *.ogg\nCopyright: b\nLicense: Expat\n\n"
            "Files: debian/*\nCopyright: c\nLicense: GPL-2+\n")
    assert license_for_path(text, "usr/share/games/funnyboat/data/Trip.ogg") == "Expat"
    assert license_for_path(text, "usr/share/games/funnyboat/data/boat.py") == "GPL-2"


def test_free_text_takes_the_licence_named_first():
    text = ("License:\n Redistribution and use in source and binary forms, with or without modification ...\n"
            "The Debian packaging is licensed under the GPL, see /usr/share/common-licenses/GPL-3.\n")
    assert recognise_license(text) == "BSD-2-clause"


def test_dep5_stanzas_and_the_most_specific_match():
    assert [lic for _, lic in parse_copyright(DEP5)] == ["GPL-2+", "CC-BY-3.0", "CC-BY-SA-3.0", "GPL-2+"]
    assert license_for_path(DEP5, "usr/share/games/ufoai/base/0music.pk3::music/David02.ogg") == "CC-BY-3.0"
    assert license_for_path(DEP5, "usr/share/games/ufoai/base/music/Crystan-Geosphere03.ogg") == "CC-BY-SA-3.0"
    assert license_for_path(DEP5, "usr/share/games/ufoai/base/music/other.ogg") == "GPL-2+"  # Files: *


@pytest.mark.parametrize("text, expected", [
    ("The music is licensed under the Creative Commons Attribution-ShareAlike 3.0 Unported licence.", "CC-BY-SA-3.0"),
    ("Released under CC-BY 4.0 by the composer.", "CC-BY-4.0"),
    ("This program is free software; you can redistribute it under the terms of the GNU General Public License "
     "as published by the Free Software Foundation; either version 2 of the License, or (at your option) any "
     "later version.", "GPL-2+"),
    ("Permission is hereby granted, free of charge, to any person obtaining a copy of this software", "Expat"),
    ("The author places these songs in the public domain.", "public-domain"),
    ("All rights reserved.", None),
])
def test_free_text_licences_are_recognised(text, expected):
    assert recognise_license(text) == expected
    assert license_for_path(text, "usr/share/x/music/a.ogg") == (expected or "unknown")


# --- the builder on a fake package ----------------------------------------------------------------

class _FakeApt:
    """Stands in for apt-get/dpkg-deb: "downloads" a placeholder and "unpacks" prepared trees."""

    def __init__(self, trees: dict[str, tuple[str, Path]]):
        self.trees = trees  # name -> (version, folder to copy as the unpacked package)
        self.downloads: list[str] = []

    def has_lists(self) -> bool:
        return True

    def update(self) -> None:  # pragma: no cover - lists are present
        raise AssertionError("no apt-get update expected")

    def candidate_versions(self, names):
        return {n: self.trees[n][0] for n in names if n in self.trees}

    def download(self, name, version, dest_dir):
        self.downloads.append(f"{name}={version}")
        dest_dir.mkdir(parents=True, exist_ok=True)
        deb = dest_dir / f"{name}_{version}_all.deb"
        deb.write_bytes(b"!<arch>\n")
        return deb

    def extract(self, deb, dest_dir):
        name = deb.name.split("_")[0]
        shutil.copytree(self.trees[name][1], dest_dir)


def _tone(seconds: float, sample_rate: int = 8000, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return np.stack([0.3 * np.sin(2 * np.pi * 330 * (c + 1) * t) for c in range(channels)]).T


def _fake_package(root: Path) -> Path:
    music = root / "usr/share/games/fakegame/music"
    music.mkdir(parents=True)
    sf.write(music / "long_theme.flac", _tone(MIN_DURATION_S + 2, channels=2), 8000, subtype="PCM_16")
    sf.write(music / "battle.wav", _tone(MIN_DURATION_S + 5), 8000, subtype="PCM_16")
    sf.write(music / "sting.flac", _tone(3.0), 8000, subtype="PCM_16")
    (music / "broken.ogg").write_bytes(b"OggS" + bytes(range(256)) * 8)  # not a decodable stream
    (music / "title.xm").write_bytes(b"Extended Module: title")
    sounds = root / "usr/share/games/fakegame/sounds"
    sounds.mkdir(parents=True)
    sf.write(sounds / "ambience.flac", _tone(MIN_DURATION_S + 1), 8000, subtype="PCM_16")  # not a music folder
    doc = root / "usr/share/doc/fakegame-data"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Files: *\nCopyright: me\nLicense: GPL-3+\n\nFiles: data/music/*\n"
                                   "Copyright: composer\nLicense: CC-BY-SA-4.0\n")
    return root


@pytest.fixture
def fake_repo(tmp_path):
    tree = _fake_package(tmp_path / "tree")
    spec = PackageSpec(name="fakegame-data", why="test", genres=("test",), split="test")
    return tmp_path, _FakeApt({"fakegame-data": ("1.2-3", tree)}), spec


def test_build_keeps_long_music_skips_the_rest_with_reasons(fake_repo):
    tmp, apt, spec = fake_repo
    summary = build_corpus(tmp / "cache", tmp / "repo/corpus/manifest.csv", packages=[spec], apt=apt, progress=False)
    tracks = load_manifest(tmp / "repo/corpus/manifest.csv")
    assert tracks == summary.tracks
    assert sorted(Path(t.source_path).name for t in tracks) == ["battle.wav", "long_theme.flac"]
    by_name = {Path(t.source_path).name: t for t in tracks}
    theme = by_name["long_theme.flac"]
    assert (theme.version, theme.license, theme.split, theme.codec) == ("1.2-3", "CC-BY-SA-4.0", "test", "flac")
    assert (theme.sample_rate, theme.channels) == (8000, 2)
    assert theme.duration_s == pytest.approx(MIN_DURATION_S + 2, abs=1e-6)
    assert by_name["battle.wav"].codec == "wav-pcm_16" and by_name["battle.wav"].channels == 1
    reasons = {Path(s.path).name: s.reason for s in summary.skipped}
    assert "shorter than 30 s" in reasons["sting.flac"]
    assert "soundfile cannot read it" in reasons["broken.ogg"]
    assert "tracker module" in reasons["title.xm"]
    assert "ambience.flac" not in reasons and "ambience.flac" not in by_name  # outside the music folder
    # the encoded file is in the cache byte for byte, the .deb and the scratch folder are gone
    import hashlib

    assert hashlib.sha256((tmp / "cache" / theme.cache_path).read_bytes()).hexdigest() == theme.sha256
    assert not list((tmp / "cache").rglob("*.deb")) and not list((tmp / "cache" / "tmp").iterdir())
    assert (tmp / "cache/licenses/fakegame-data.copyright").read_text().count("CC-BY-SA-4.0") == 1
    assert not (tmp / "repo/corpus/licenses").exists()  # the repository keeps the manifest only
    [(track, audio, rate)] = list(iter_audio([theme], tmp / "cache"))
    assert audio.shape == (2, int((MIN_DURATION_S + 2) * 8000)) and rate == 8000


def test_build_is_idempotent_and_refetches_a_new_version(fake_repo):
    tmp, apt, spec = fake_repo
    manifest = tmp / "repo/corpus/manifest.csv"
    first = build_corpus(tmp / "cache", manifest, packages=[spec], apt=apt, progress=False)
    text = manifest.read_text()
    second = build_corpus(tmp / "cache", manifest, packages=[spec], apt=apt, progress=False)
    assert apt.downloads == ["fakegame-data=1.2-3"]  # nothing downloaded the second time
    assert second.downloaded == [] and second.cached == ["fakegame-data"]
    assert "downloaded nothing new" in second.format()
    assert manifest.read_text() == text and second.tracks == first.tracks
    # a deleted cache file is fetched again; so is a new version
    (tmp / "cache" / first.tracks[0].cache_path).unlink()
    build_corpus(tmp / "cache", manifest, packages=[spec], apt=apt, progress=False)
    apt.trees["fakegame-data"] = ("1.2-4", apt.trees["fakegame-data"][1])
    third = build_corpus(tmp / "cache", manifest, packages=[spec], apt=apt, progress=False)
    assert apt.downloads == ["fakegame-data=1.2-3", "fakegame-data=1.2-3", "fakegame-data=1.2-4"]
    assert {t.version for t in third.tracks} == {"1.2-4"}
    # a changed selection in the curated entry fetches again and applies it
    narrower = PackageSpec(name="fakegame-data", why="test", genres=("test",), split="test", include=("*/music/*.wav",))
    fourth = build_corpus(tmp / "cache", manifest, packages=[narrower], apt=apt, progress=False)
    assert len(apt.downloads) == 4 and [Path(t.source_path).name for t in fourth.tracks] == ["battle.wav"]
    theme = next(t for t in first.tracks if t.source_path.endswith("long_theme.flac"))
    assert not (tmp / "cache" / theme.cache_path).exists()  # the old selection's files are gone


def test_a_failed_unpack_leaves_no_deb_and_is_retried(fake_repo):
    tmp, apt, spec = fake_repo

    def broken(deb, dest_dir):
        raise DataError("dpkg-deb -x failed: corrupt archive")

    good_extract, apt.extract = apt.extract, broken
    summary = build_corpus(tmp / "cache", tmp / "m.csv", packages=[spec], apt=apt, progress=False)
    assert summary.tracks == [] and "corrupt archive" in summary.skipped[0].reason
    assert not list((tmp / "cache").rglob("*.deb"))
    apt.extract = good_extract
    assert len(build_corpus(tmp / "cache", tmp / "m.csv", packages=[spec], apt=apt, progress=False).tracks) == 2


def test_a_package_apt_does_not_know_is_skipped_not_fatal(fake_repo):
    tmp, apt, spec = fake_repo
    other = PackageSpec(name="no-such-music", why="test", genres=())
    summary = build_corpus(tmp / "cache", tmp / "m.csv", packages=[other, spec], apt=apt, progress=False)
    assert {t.package for t in summary.tracks} == {"fakegame-data"}
    assert any(s.package == "no-such-music" and "not in the apt lists" in s.reason for s in summary.skipped)


# --- the real corpus (skips where the cache is absent, as on CI) ----------------------------------

def _real_corpus():
    from semeq.corpus import default_manifest_path

    path = default_manifest_path()
    if not path.is_file():
        pytest.skip(f"no corpus manifest at {path}")
    tracks = load_manifest(path)
    cache = default_cache_dir()
    if not tracks or not (cache / tracks[0].cache_path).is_file():
        pytest.skip(f"corpus cache absent at {cache}: run 'semeq corpus build' to fetch it")
    return tracks, cache


def test_shipped_manifest_meets_the_targets_and_splits_by_package():
    from semeq.corpus import default_manifest_path

    path = default_manifest_path()
    if not path.is_file():
        pytest.skip(f"no corpus manifest at {path}")
    tracks = load_manifest(path)
    assert len(tracks) >= 300
    assert sum(t.duration_s for t in tracks) / 3600 >= 15
    assert len({t.package for t in tracks}) >= 15
    assert min(t.duration_s for t in tracks) >= MIN_DURATION_S
    assert not any(is_reserved(t.package) for t in tracks)
    split_of = defaultdict(set)
    for t in tracks:
        split_of[t.package].add(t.split)
    assert all(len(s) == 1 for s in split_of.values())
    assert len({t.sha256 for t in tracks}) == len(tracks)
    assert all(t.license for t in tracks)  # each track names its licence; the copyright files stay in the cache


def test_real_cache_tracks_decode():
    tracks, cache = _real_corpus()
    by_codec = {t.codec: t for t in tracks}  # one track of each codec (Vorbis and Opus)
    picks = [tracks[0], tracks[-1], *by_codec.values()]
    for track, audio, rate in iter_audio(picks, cache, max_seconds=2.0):
        assert rate == track.sample_rate and audio.shape == (track.channels, int(round(2.0 * rate)))
        assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-4


# --- spectra statistics ---------------------------------------------------------------------------

def test_corpus_spectra_use_the_references_cutoff_rule(tmp_path):
    """A codec's brick wall is cut (NaN above it), a natural roll-off is not: the one cut-off rule
    of semeq.reference, applied to corpus excerpts."""
    from scipy import signal

    from semeq.analysis import GRID_FREQS_HZ
    from semeq.corpus.stats import excerpt_spectrum_db

    rng = np.random.default_rng(7)
    noise = rng.standard_normal((1, 5 * 44100))
    walled = signal.sosfilt(signal.butter(16, 15500, fs=44100, output="sos"), noise)
    tilted = signal.sosfilt(signal.butter(1, 1000, fs=44100, output="sos"), noise)
    for name, x in (("walled", walled), ("tilted", tilted)):
        sf.write(tmp_path / f"{name}.flac", (0.2 * x / np.abs(x).max()).T, 44100, subtype="PCM_24")
    cut = excerpt_spectrum_db(tmp_path / "walled.flac")
    assert np.isnan(cut[GRID_FREQS_HZ > 17000]).all() and np.isfinite(cut[GRID_FREQS_HZ < 15000]).all()
    assert np.isfinite(excerpt_spectrum_db(tmp_path / "tilted.flac")[GRID_FREQS_HZ < 20000]).all()


def test_percentile_corridor_ignores_tracks_without_the_band():
    from semeq.corpus.stats import percentile_corridor

    spectra = np.tile(np.arange(20.0)[:, None], (1, 3))  # 20 tracks, values 0..19 in each band
    spectra[10:, 2] = np.nan  # only tracks 0..9 hold band 2
    corridor = percentile_corridor(spectra, (10, 50, 90), min_tracks=10)
    np.testing.assert_allclose(corridor[:, 0], np.percentile(np.arange(20.0), (10, 50, 90)))
    np.testing.assert_allclose(corridor[:, 2], np.percentile(np.arange(10.0), (10, 50, 90)))
    assert np.isnan(percentile_corridor(spectra, (50,), min_tracks=11)[0, 2])


@pytest.mark.parametrize("third_clause, expected", [("", "BSD-2-clause"),
                                                   ("3. Neither the name of the author may be used", "BSD-3-clause")])
def test_bsd_licence_text_is_recognised(third_clause, expected):
    text = ("Copyright: 2002 Kenta Cho. All rights reserved.\nLicense:\n Redistribution and use in source and binary "
            "forms, with or without modification, are permitted provided that the following conditions are met:\n"
            " 1. Redistributions of source code must retain the above copyright notice.\n"
            f" 2. Redistributions in binary form must reproduce the above copyright notice.\n {third_clause}\n")
    assert recognise_license(text) == expected


def test_track_spectra_are_stored_and_not_recomputed(tmp_path, monkeypatch):
    from semeq.corpus import stats
    from semeq.reference import measure

    (tmp_path / "audio/a").mkdir(parents=True)
    rng = np.random.default_rng(3)
    tracks = []
    for i in range(2):
        noise = rng.standard_normal((2, 2 * 8000)) * (0.1 + 0.1 * i)
        sf.write(tmp_path / f"audio/a/t{i}.flac", noise.T.clip(-1, 1), 8000, subtype="PCM_24")
        tracks.append(_track(i, "a", cache_path=f"audio/a/t{i}.flac", sample_rate=8000))
    first = stats.track_spectra(tracks, tmp_path, progress=False)
    audio, _ = sf.read(tmp_path / "audio/a/t1.flac", dtype="float64", always_2d=True)
    np.testing.assert_allclose(first[1], measure(audio.T, 8000).spectrum_db)
    assert (tmp_path / "stats/ltas.npz").is_file()

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(stats, "excerpt_spectrum_db", no_decoding)
    np.testing.assert_array_equal(stats.track_spectra(tracks[::-1], tmp_path, progress=False), first[::-1])


def test_excerpt_spectrum_matches_the_whole_file_on_stationary_audio(tmp_path):
    from scipy import signal

    from semeq.analysis import GRID_FREQS_HZ
    from semeq.reference import measure

    from semeq.corpus.stats import excerpt_spectrum_db

    rng = np.random.default_rng(11)
    sample_rate = 16000
    # pink-ish stationary noise, 40 s: six 2 s excerpts vs the whole file
    noise = signal.sosfilt(signal.butter(1, 500, fs=sample_rate, output="sos"), rng.standard_normal((2, 40 * sample_rate)))
    noise *= 0.2 / np.abs(noise).max()
    sf.write(tmp_path / "n.flac", noise.T, sample_rate, subtype="PCM_24")
    audio, _ = sf.read(tmp_path / "n.flac", dtype="float64", always_2d=True)
    whole = measure(audio.T, sample_rate).spectrum_db
    excerpts = excerpt_spectrum_db(tmp_path / "n.flac", n_excerpts=6, excerpt_s=2.0)
    band = GRID_FREQS_HZ < 7000  # below the 8 kHz Nyquist
    assert np.abs(excerpts[band] - whole[band]).max() < 0.5
    assert np.nanmax(np.abs(excerpts - whole)) > 0  # it did use excerpts
    # a file no longer than the excerpts is read whole: exactly long_term_spectrum_db
    np.testing.assert_array_equal(excerpt_spectrum_db(tmp_path / "n.flac", n_excerpts=4, excerpt_s=10.0), whole)
