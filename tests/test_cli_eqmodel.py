"""CLI commands of the EQ model, training determinism, and clear errors on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from semeq.cli import main
from semeq.errors import SemeqError
from semeq.eq_model import EQModel


def test_terms_json(capsys):
    assert main(["terms", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) >= 400
    assert {"word", "language", "sources", "count", "confidence"} <= set(entries[0])


def test_terms_table(capsys):
    assert main(["terms"]) == 0
    out = capsys.readouterr().out
    assert "warm" in out and "low confidence" in out


def test_describe_json_and_plot(capsys, tmp_path):
    png = tmp_path / "warm.png"
    assert main(["describe", "Warm", "--json", "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["word"] == "warm" and len(out["embedding"]) == 32
    assert set(out["eq"]) >= {"low_shelf_gain_db", "high_shelf_freq_hz"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["describe", "warm", "--plot", str(png)]) == 2  # refuses to overwrite without --force
    assert "already exists" in capsys.readouterr().err


def test_describe_unknown_word_is_one_line(capsys):
    assert main(["describe", "wamr"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warm" in err and "Traceback" not in err


@pytest.mark.parametrize("content", ["1,warm,a,2,2,1,2\n", "", '1,test,a,2,2' + ',0' * 13 + ',,,,,,,x\n'])
def test_train_bad_csv_is_one_line(capsys, tmp_path, content):
    pytest.importorskip("torch", reason="training needs the semeq[train] extra")
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["train", "eq", "--safe-db", str(path), "--audealize", "none", "--out", str(tmp_path / "m"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("semeq: error:") and err.count("\n") == 1


def test_train_bad_audealize_is_one_line(capsys, tmp_path, data_root):
    pytest.importorskip("torch", reason="training needs the semeq[train] extra")
    bad = tmp_path / "words.json"
    bad.write_text('[{"word": "warm"')
    safe = data_root / "safe-db" / "SAFEEqualiserUserData.csv"
    assert main(["train", "eq", "--safe-db", str(safe), "--audealize", str(bad), "--out", str(tmp_path / "m"), "--quiet"]) == 2
    assert "Audealize" in capsys.readouterr().err


def test_training_is_deterministic_for_a_seed(tmp_path, data_root):
    pytest.importorskip("torch", reason="training needs the semeq[train] extra")
    from semeq.training.eq import TrainConfig, train_eq_model

    safe = data_root / "safe-db" / "SAFEEqualiserUserData.csv"
    config = TrainConfig(epochs=1, seed=5)
    for name in ("a", "b"):
        train_eq_model(safe, None, tmp_path / name, config, progress=False, log=lambda s: None, subsample_safe=4)
    a = load_file(str(tmp_path / "a" / "eq_vae.safetensors"))
    b = load_file(str(tmp_path / "b" / "eq_vae.safetensors"))
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    model = EQModel.load(tmp_path / "a")
    assert model.meta["train_config"]["seed"] == 5 and model.latent_dim == 32
    split = model.meta["split"]["row_ids"]
    assert not (set(split["train"]) & set(split["test"]))
    with pytest.raises(SemeqError, match="already exists"):
        train_eq_model(safe, None, tmp_path / "a", config, progress=False, log=lambda s: None, subsample_safe=4)
