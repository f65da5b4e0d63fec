"""The index records each encoder's spec; search rebuilds encoders from it (old indexes too)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoders import EncoderError, EncoderSpec, ModelPaths, load_encoder
from ingest import ingest_folder
from search.service import SearchService, load_index_encoder
from search.store import open_store
from ui.cli import main

QUERY = "how do masked diffusion models generate text"


def _docs(root: Path) -> Path:
    root.mkdir()
    (root / "diffusion.md").write_text(
        "# Diffusion\n\nMasked diffusion models generate text by unmasking tokens in any order."
    )
    (root / "stores.txt").write_text("Qdrant keeps one collection per encoder and index.")
    (root / "bread.txt").write_text("Knead the dough, let it rise, then bake the bread.")
    return root


def _linked_copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).symlink_to(f.resolve())
    return dst


def _drop_specs(store: Any, index: str) -> None:
    """Rewrite the index record as diffsearch wrote it before specs were recorded."""
    record = store.index_record(index)
    for info in record["encoders"].values():
        info.pop("spec")
    store._put_record(index, record)


@pytest.fixture
def indexed(tmp_path: Path, minilm: Any) -> Path:
    """A store with index ``t``: MiniLM by name and MiniLM run causal, given as a spec."""
    path = tmp_path / "store"
    with open_store(path=path) as store:
        ingest_folder(_docs(tmp_path / "docs"), index="t", store=store, workers=0,
                      encoders=["minilm", EncoderSpec("minilm", attention="causal")])  # fmt: skip
    return path


def test_the_index_records_specs_and_search_rebuilds_from_them(indexed: Path, minilm: Any) -> None:
    with open_store(path=indexed) as store:
        encoders = store.index_info("t").encoders
        assert set(encoders) == {"minilm", "minilm+causal"}
        assert encoders["minilm+causal"]["spec"]["attention"] == "causal"
        assert "device" not in encoders["minilm"]["spec"]  # runtime settings are not recorded
        service = SearchService(store)
        assert service.encoder("t", "minilm") is minilm  # a cache hit, not a second load
        causal = service.encoder("t", "minilm+causal")
        assert causal is load_encoder("minilm", attention="causal")
        assert service.search(QUERY, index="t", encoder="minilm+causal", k=1).hits[0].key == (
            "diffusion.md"
        )


def test_indexes_written_before_specs_still_load_and_grow(indexed: Path, tmp_path: Path) -> None:
    with open_store(path=indexed) as store:
        before = SearchService(store).compare(
            QUERY, index="t", encoders=["minilm", "minilm+causal"]
        )
        _drop_specs(store, "t")
        assert all("spec" not in i for i in store.index_info("t").encoders.values())
        after = SearchService(store).compare(QUERY, index="t", encoders=["minilm", "minilm+causal"])
        assert [h.hit.score for h in after.right.hits] == [h.hit.score for h in before.right.hits]
        # Re-ingesting by name finds the legacy "minilm+causal" encoder (no mismatch).
        (tmp_path / "docs" / "new.txt").write_text("A new note about pooling.")
        r = ingest_folder(tmp_path / "docs", index="t", store=store, workers=0, encoders=[])
        assert (r.new, r.unchanged, r.encoders) == (1, 3, ["minilm", "minilm+causal"])


def test_a_rebuilt_encoder_that_writes_other_vectors_is_refused(indexed: Path) -> None:
    with open_store(path=indexed) as store:
        info = store.index_info("t").encoders["minilm"]
    with pytest.raises(EncoderError, match="max_tokens 128 in the index vs 256 now"):
        load_index_encoder({**info, "max_tokens": 128})
    with pytest.raises(EncoderError, match="dim 12 in the index vs 384 now"):
        load_index_encoder({**info, "dim": 12})
    # Written with a LoRA adapter that is not on this machine now: not the same vectors.
    lora = {**info, "spec": {**info["spec"], "adapter": "/nowhere/lora"}}
    with pytest.raises(EncoderError, match="adapter True in the index vs False now"):
        load_index_encoder(lora)


def test_ingest_refuses_an_encoder_that_lost_its_recorded_adapter(indexed: Path, tmp_path: Path):
    from ingest import EncoderMismatchError

    with open_store(path=indexed) as store:
        record = store.index_record("t")
        record["encoders"]["minilm"]["spec"]["adapter"] = "/nowhere/lora"
        store._put_record("t", record)
        (tmp_path / "docs" / "new.txt").write_text("A new note about pooling.")
        with pytest.raises(EncoderMismatchError, match="spec adapter True in the index vs False"):
            ingest_folder(tmp_path / "docs", index="t", store=store, workers=0, encoders=[])
        assert store.index_info("t").documents == 3  # nothing written


def test_weights_flags_reach_the_spec_not_the_environment(tmp_path: Path, capsys) -> None:
    """Ingest with --weights A; search later without it, with another folder, or a bad one."""
    found = Path(load_encoder("minilm").spec.weights)
    a = _linked_copy(found, tmp_path / "a")
    docs, store = _docs(tmp_path / "docs"), str(tmp_path / "store")
    env = dict(os.environ)
    assert main(["ingest", str(docs), "--index", "w", "-e", "minilm", "--store", store,
                 "--workers", "0", "--weights", f"minilm={a}", "--json"]) == 0  # fmt: skip
    assert dict(os.environ) == env
    with open_store(path=store) as s:
        assert s.index_info("w").encoders["minilm"]["spec"]["weights"] == str(a)
    search = ["search", QUERY, "--index", "w", "-e", "minilm", "--store", store, "-k", "1"]
    for extra in ([], ["--weights", f"minilm={_linked_copy(found, tmp_path / 'b')}"]):
        capsys.readouterr()
        assert main([*search, *extra]) == 0
        assert "diffusion.md" in capsys.readouterr().out
    for f in a.iterdir():  # the recorded folder is gone: the normal lookup finds MiniLM
        f.unlink()
    a.rmdir()
    assert main(search) == 0 and "diffusion.md" in capsys.readouterr().out
    bad = tmp_path / "bad"
    bad.mkdir()
    assert main([*search, "--weights", f"minilm={bad}"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


def test_search_service_passes_the_users_folders(indexed: Path, tmp_path: Path) -> None:
    found = Path(load_encoder("minilm").spec.weights)
    other = _linked_copy(found, tmp_path / "other")
    with open_store(path=indexed) as store:
        service = SearchService(store, paths=ModelPaths(weights={"minilm": str(other)}))
        enc = service.encoder("t", "minilm")
        assert enc.spec.weights == str(other)
        plain = SearchService(store).encoder("t", "minilm")
        assert np.array_equal(enc.encode_queries([QUERY]), plain.encode_queries([QUERY]))
