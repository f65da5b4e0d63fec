"""Vector settings end to end: ``diffsearch ingest -e pplx-embed-0.6b --dim 128 --quantize int8``
records them in the index's spec, gets a Qdrant-quantized collection, and the search side rebuilds
the same encoder from the record (a tiny checkpoint in pplx-embed's real on-disk format)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from search.store import collection_name, open_store


@pytest.fixture
def pplx_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from tests.encoders.conftest import _bpe_tokenizer
    from tests.encoders.tiny_formats import write_pplx

    folder = tmp_path / "pplx"
    write_pplx(folder, _bpe_tokenizer(), hidden=256, prefixed=False, seed=5)
    monkeypatch.setenv("DIFFSEARCH_WEIGHTS_PPLX_EMBED_0_6B", str(folder))
    return folder


@pytest.mark.filterwarnings("ignore:.*has hidden size:UserWarning")
def test_cli_vector_settings_are_recorded_and_rebuilt(
    tmp_path: Path, pplx_weights: Path, capsys
) -> None:
    from encoders import load_encoder
    from search.service import SearchService
    from ui.cli import main

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(4):
        (docs / f"d{i}.txt").write_text(f"Document {i} on mean pooling and diffusion models. " * 8)
    store_dir = str(tmp_path / "s")
    common = ["ingest", str(docs), "--index", "v", "--store", store_dir, "--json"]
    # minilm was not trained for either: refused with the allowed values, nothing written.
    assert main([*common, "-e", "pplx-embed-0.6b", "-e", "minilm", "--dim", "128",
                 "--quantize", "int8"]) == 2  # fmt: skip
    assert "cannot take" in capsys.readouterr().err
    assert main([*common, "-e", "pplx-embed-0.6b", "--dim", "128", "--quantize", "int8"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["encoders"] == ["pplx-embed-0.6b+dim128+int8"]
    with open_store(path=store_dir) as store:
        info = store.encoder_info("v", "pplx-embed-0.6b+dim128+int8")
        assert info["dim"] == 128 and info["quantize"] == "int8"
        assert (info["spec"]["dim"], info["spec"]["quantize"]) == (128, "int8")
        coll = collection_name("v", "pplx-embed-0.6b+dim128+int8")
        assert store.engine.index_state(coll).quantization == "int8"
        # The search side rebuilds the encoder from the record: the same vectors.
        service = SearchService(store)
        hits = service.search("mean pooling", index="v", encoder="pplx-embed-0.6b+dim128+int8", k=2)
        assert len(hits.hits) == 2
        enc = load_encoder("pplx-embed-0.6b", dim=128, quantize="int8")
        points = list(store.engine.scroll(coll, with_vectors=True))
        want = enc.encode_documents([p.payload["text"] for p in points])
        np.testing.assert_allclose(np.asarray([p.vector for p in points]), want, atol=1e-4)
    # Reopened with the other setting under the same index: a second encoder, side by side.
    assert main([*common, "-e", "pplx-embed-0.6b+dim192"]) == 0
    with open_store(path=store_dir) as store:
        assert sorted(store.index_info("v").encoders) == [
            "pplx-embed-0.6b+dim128+int8",
            "pplx-embed-0.6b+dim192",
        ]
