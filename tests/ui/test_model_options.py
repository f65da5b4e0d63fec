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


def test_vector_flags_rename_each_encoder():
    """--dim/--quantize/--pool-template become each -e's name; the per-encoder form wins."""
    from ui.cli import build_parser
    from ui.options import apply_vector_args

    args = build_parser().parse_args(
        [
            "ingest",
            "docs",
            "--index",
            "x",
            "-e",
            "pplx-embed-0.6b",
            "-e",
            "qwen3-embedding+dim64",
            "--dim",
            "256",
            "--quantize",
            "int8",
        ]
    )
    apply_vector_args(args)
    assert args.encoders == ["pplx-embed-0.6b+dim256+int8", "qwen3-embedding+dim64+int8"]
    args = build_parser().parse_args(
        ["search", "q", "--index", "x", "-e", "pplx-embed-0.6b", "--dim", "1024"]
    )
    apply_vector_args(args)
    assert args.encoder == "pplx-embed-0.6b"  # the full size is the plain encoder
    args = build_parser().parse_args(["eval", "-e", "diffembed", "--pool-template"])
    apply_vector_args(args)
    assert args.encoders == ["diffembed+pool-template"]


def test_a_setting_an_encoder_cannot_take_is_one_line(capsys, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Some text about diffusion language models.")
    code = main(["ingest", str(docs), "--index", "x", "-e", "minilm", "--quantize", "int8",
                 "--store", str(tmp_path / "s")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "cannot take quantize='int8'" in err and "pplx-embed-*: int8, binary" in err
