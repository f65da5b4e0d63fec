"""``EncoderSpec``: serialisable, the one way into ``load_encoder``, rebuilt from index records."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoders import (
    EncoderError,
    EncoderSpec,
    ModelPaths,
    UnknownEncoderError,
    encoder_name,
    load_encoder,
    spec_from_record,
)
from encoders.spec import RUNTIME, identity_diff, runtime

TEXTS = ["Masked diffusion models unmask tokens in any order.", "Qdrant stores vectors."]


def test_json_and_pickle_round_trips_are_equal_and_hash_alike(tmp_path: Path) -> None:
    spec = EncoderSpec(
        "minilm", attention="causal", max_tokens=128, long_policy="windows",
        weights=tmp_path, device="cpu", dtype="float32", batch_tokens=512,
    )  # fmt: skip
    assert spec.weights == str(tmp_path)  # paths become absolute strings
    again = EncoderSpec.from_json(spec.to_json())
    assert again == spec and hash(again) == hash(spec)
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert json.loads(spec.to_json())["attention"] == "causal"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.model = "dream"  # type: ignore[misc]


def test_bad_settings_are_refused_with_the_choices() -> None:
    with pytest.raises(EncoderError, match="attention must be one of bidirectional, causal"):
        EncoderSpec("minilm", attention="sideways")
    with pytest.raises(EncoderError, match="long_policy must be one of truncate, windows"):
        EncoderSpec("minilm", long_policy="chop")
    with pytest.raises(EncoderError, match="max_tokens must be at least 8"):
        EncoderSpec("minilm", max_tokens=4)
    with pytest.raises(EncoderError, match="newer version"):
        EncoderSpec.from_dict({"model": "minilm", "hologram": 3})
    # A missing field takes its default; an unknown one without a value is harmless.
    assert EncoderSpec.from_dict({"model": "minilm", "later": None}) == EncoderSpec("minilm")


def test_what_an_index_records_and_compares(tmp_path: Path) -> None:
    a = EncoderSpec("dream", weights=tmp_path / "a", device="cuda:1", batch_tokens=9000)
    b = EncoderSpec("dream", weights=tmp_path / "b", dtype="bfloat16")
    assert set(a.recorded()) == {"model", "attention", "pooling", "max_tokens", "long_policy",
                                 "weights", "adapter", "adapter_id", "dim", "quantize",
                                 "pool_template"}  # fmt: skip
    # Another weights folder, device or dtype writes the same vectors; an adapter does not.
    assert a.identity() == b.identity() and identity_diff(a.recorded(), b) == []
    lora = b.replace(adapter=tmp_path / "lora")
    assert identity_diff(a.recorded(), lora) == [("adapter", False, True)]
    assert identity_diff(a.recorded(), b.replace(long_policy="windows")) == [
        ("long_policy", "truncate", "windows")
    ]
    # Vector settings (issue 10) are vectors fields: recorded and compared.
    assert identity_diff(a.recorded(), b.replace(quantize="int8")) == [("quantize", None, "int8")]
    # A spec recorded before they existed reads back with their defaults: the same identity.
    old = {k: v for k, v in a.recorded().items() if k not in ("dim", "quantize", "pool_template")}
    assert identity_diff(old, b) == []


def test_adding_a_field_is_one_line() -> None:
    """A subclass with two more fields: serialisation, records and identity follow the list."""
    wider = dataclasses.make_dataclass(
        "WiderSpec",
        [("quantize", "str | None", None), ("threads", "int | None", runtime())],
        bases=(EncoderSpec,),
        frozen=True,
    )
    spec = wider("minilm", quantize="int8", threads=4)
    assert spec.to_dict()["quantize"] == "int8" and wider.from_dict(spec.to_dict()) == spec
    assert "quantize" in spec.recorded() and "threads" not in spec.recorded()
    assert spec.identity()["quantize"] == "int8" and "threads" not in spec.identity()
    assert dataclasses.fields(wider)[-1].metadata["kind"] == RUNTIME


def test_names_come_from_the_spec_without_loading(tmp_path: Path) -> None:
    assert encoder_name(EncoderSpec("minilm")) == "minilm"
    assert encoder_name(EncoderSpec("minilm", attention="causal")) == "minilm+causal"
    assert encoder_name(EncoderSpec("minilm", attention="bidirectional")) == "minilm"
    assert encoder_name(EncoderSpec("minilm", pooling="cls", max_tokens=64)) == "minilm+cls+64"
    # A name's suffixes are its settings: the per-encoder CLI form is a spec too.
    named = EncoderSpec("pplx-embed-0.6b+dim256+int8")
    assert (named.model, named.dim, named.quantize) == ("pplx-embed-0.6b", 256, "int8")
    assert named == EncoderSpec("pplx-embed-0.6b", dim=256, quantize="int8")
    assert encoder_name(named) == "pplx-embed-0.6b+dim256+int8"
    assert encoder_name(EncoderSpec("pplx-embed-0.6b", dim=1024)) == "pplx-embed-0.6b"
    assert EncoderSpec("minilm+causal").attention == "causal"
    with pytest.raises(EncoderError, match="contradicts"):
        EncoderSpec("minilm+causal", attention="bidirectional")
    with pytest.raises(EncoderError, match="cannot take quantize='int8'"):
        encoder_name(EncoderSpec("minilm", quantize="int8"))
    with pytest.raises(EncoderError, match="takes dim from 128 to 1024"):
        encoder_name(EncoderSpec("pplx-embed-0.6b", dim=64))
    with pytest.raises(UnknownEncoderError, match="unknown encoder 'nope'"):
        encoder_name(EncoderSpec("nope"))
    gone = EncoderSpec(str(tmp_path / "moved-away"))
    with pytest.raises(UnknownEncoderError, match="--weights moved-away=DIR"):
        encoder_name(gone)
    # And all of this without torch (the web UI and an ingest planner name encoders too).
    code = (
        "import sys; from encoders import EncoderSpec, encoder_name; "
        "print(encoder_name(EncoderSpec('minilm', attention='causal')), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["minilm+causal", "False"]


def test_keyword_form_and_spec_form_are_one_cache_entry(minilm: Any) -> None:
    assert load_encoder(EncoderSpec("minilm")) is minilm is load_encoder("minilm")
    assert load_encoder("minilm", attention="bidirectional") is minilm  # the preset's own value
    # The encoder knows what it was built from, with the folder the lookup found...
    assert minilm.spec.model == "minilm" and Path(minilm.spec.weights, "config.json").is_file()
    assert minilm.info.spec == minilm.spec.recorded()
    # ... and that spec leads back to the same object (no second copy of the model).
    assert load_encoder(minilm.spec) is minilm
    causal = load_encoder(EncoderSpec("minilm", attention="causal"))
    assert causal is load_encoder("minilm", attention="causal") and causal.name == "minilm+causal"


_OTHER_PROCESS = """
import pickle, sys, json
from encoders import load_encoder
spec = pickle.loads(bytes.fromhex(sys.argv[1]))
enc = load_encoder(spec)
print(json.dumps({"name": enc.name, "vectors": enc.encode_documents(json.loads(sys.argv[2])).tolist()}))
"""


def test_another_process_builds_the_same_encoder_from_the_spec() -> None:
    spec = EncoderSpec("minilm", attention="causal", long_policy="windows", max_tokens=32)
    here = load_encoder(spec)
    out = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, pickle.dumps(spec).hex(), json.dumps(TEXTS)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    there = json.loads(out.stdout)
    assert there["name"] == here.name == "minilm+causal+32"
    assert np.abs(np.asarray(there["vectors"]) - here.encode_documents(TEXTS)).max() < 1e-6


def test_token_offsets_without_the_model_equal_the_encoders(tmp_path: Path) -> None:
    from encoders import load_token_offsets

    # A folder of MiniLM's files no encoder was loaded from: only its tokenizer is read.
    folder = _folder_model(Path(load_encoder("minilm").spec.weights), tmp_path / "tok-only")
    offsets = load_token_offsets(EncoderSpec(str(folder)))
    text = "Tokenisation of unbelievably long words, and numbers like 3.1415."
    assert offsets(text) == load_encoder("minilm").token_offsets(text)
    assert len(offsets(text)) > 10
    from encoders import registry
    from encoders.resolve import resolve

    assert resolve(EncoderSpec(str(folder))).spec not in registry._CACHE  # no model was loaded


# -- rebuilding from what an index recorded -----------------------------------------------------


def _folder_model(src: Path, dst: Path) -> Path:
    """A copy of a model folder, made of links (a folder encoder, cheap to move around)."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).symlink_to(f.resolve(), target_is_directory=f.is_dir())
    return dst


def test_records_without_a_spec_are_read_as_before(tmp_path: Path) -> None:
    folder = _folder_model(Path(load_encoder("minilm").spec.weights), tmp_path / "mini")
    legacy = {"name": "minilm", "long_policy": "windows"}
    assert spec_from_record(legacy) == EncoderSpec("minilm", long_policy="windows")
    plus = {"name": "minilm+causal", "attention": "causal", "pooling": "mean"}
    assert encoder_name(spec_from_record(plus)) == "minilm+causal"
    local = {"name": "mini", "model_id": str(folder), "attention": "causal", "pooling": "mean"}
    assert encoder_name(spec_from_record(local)) == "mini+causal"


def test_recorded_folders_are_hints_the_user_can_override(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DIFFSEARCH_WEIGHTS_MINILM", raising=False)
    found = Path(load_encoder("minilm").spec.weights)
    here = _folder_model(found, tmp_path / "here")
    info = {"name": "minilm", "spec": EncoderSpec("minilm", weights=here).recorded()}
    assert spec_from_record(info).weights == str(here)  # still on this machine: used
    gone = {"name": "minilm", "spec": EncoderSpec("minilm", weights=tmp_path / "gone").recorded()}
    assert spec_from_record(gone).weights is None  # another machine's path: normal lookup
    other = _folder_model(found, tmp_path / "other")
    flags = ModelPaths(weights={"minilm": str(other)})
    assert spec_from_record(info, flags).weights == str(other)  # --weights wins
    monkeypatch.setenv("DIFFSEARCH_WEIGHTS_MINILM", str(other))
    assert spec_from_record(info).weights is None  # so does the env variable (looked up later)


def test_a_moved_folder_encoder_is_found_with_weights_by_name(tmp_path: Path) -> None:
    found = Path(load_encoder("minilm").spec.weights)
    first = _folder_model(found, tmp_path / "a" / "mini")
    enc = load_encoder(str(first), attention="causal")
    info = enc.info.as_dict()
    assert info["name"] == "mini+causal" and info["spec"]["model"] == str(first)
    moved = tmp_path / "b" / "mini"
    moved.parent.mkdir()
    first.rename(moved)
    with pytest.raises(UnknownEncoderError, match="--weights mini=DIR"):
        load_encoder(spec_from_record(info))
    rebuilt = load_encoder(spec_from_record(info, ModelPaths(weights={"mini+causal": str(moved)})))
    assert rebuilt.name == "mini+causal" and rebuilt.info.model_id == info["model_id"]
    assert np.abs(rebuilt.encode_documents(TEXTS) - enc.encode_documents(TEXTS)).max() < 1e-6
