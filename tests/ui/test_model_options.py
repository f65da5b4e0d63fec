"""``--weights NAME=DIR`` / ``--adapter NAME=DIR`` reach every encoder load, through its spec."""

from __future__ import annotations

import argparse
import os

import pytest

from encoders import EncoderSpec
from ui.cli import main
from ui.options import add_model_args, model_paths


def _unset(monkeypatch, *names):
    # setenv first, so that monkeypatch restores the variable's absence after the test
    # (delenv alone records nothing for a variable that is not set).
    for name in names:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_flags_go_into_the_specs_not_the_environment(monkeypatch, tmp_path):
    _unset(monkeypatch, "DIFFSEARCH_WEIGHTS_QWEN2_5", "DIFFSEARCH_ADAPTER_DIFFEMBED")
    parser = argparse.ArgumentParser()
    add_model_args(parser)
    args = parser.parse_args(
        ["--weights", f"qwen2.5={tmp_path}", "--adapter", f"diffembed={tmp_path}/lora"]
    )
    paths = model_paths(args)
    assert "DIFFSEARCH_WEIGHTS_QWEN2_5" not in os.environ
    assert "DIFFSEARCH_ADAPTER_DIFFEMBED" not in os.environ
    assert paths.apply(EncoderSpec("qwen2.5")).weights == str(tmp_path)
    assert paths.apply(EncoderSpec("diffembed")).adapter == str(tmp_path / "lora")
    assert paths.apply(EncoderSpec("dream")) == EncoderSpec("dream")  # named for others only
    with pytest.raises(SystemExit):
        parser.parse_args(["--weights", "no-equals-sign"])


def test_missing_weights_message_names_the_working_flag(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    _unset(monkeypatch, "DIFFSEARCH_WEIGHTS_DREAM", "DIFFSEARCH_MODELS_DIR")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Some text about diffusion language models.")
    code = main(
        ["ingest", str(docs), "--index", "x", "-e", "dream", "--store", str(tmp_path / "s")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "--weights dream=/models/X" in err and "DIFFSEARCH_WEIGHTS_DREAM" in err
    # And the flag it names is accepted and used: a folder without config.json is refused by name.
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    code = main(["ingest", str(docs), "--index", "x", "-e", "dream", "--store", str(tmp_path / "s"),
                 "--weights", f"dream={bad}"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and str(bad) in err
