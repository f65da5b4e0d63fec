"""``--chunking late``: the chunks, ids and payloads of ``tokens``, vectors from one pass."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoders import EncoderSpec
from ingest import ChunkingMismatchError, IngestError, ingest_folder
from ingest.embed import Embedded, LocalEmbedder, SpanCall
from ingest.parse import parse_file
from search.layout import point_id
from search.store import open_store
from tests.ingest.ingest_helpers import MD, assert_same_points, snapshot, write_folder

SMALL = {"chunk_tokens": 64, "overlap": 8}


def _payloads(snap: dict) -> dict[str, dict[str, str]]:
    return {name.split("__")[-1]: {k: v[0] for k, v in pts.items()} for name, pts in snap.items()}


def _vectors(snap: dict, collection: str) -> dict[str, np.ndarray]:
    return {k: v[1] for k, v in snap[collection].items()}


def test_late_chunking_keeps_the_chunks_of_tokens(tmp_path: Path, minilm, minilm_causal) -> None:
    root = write_folder(tmp_path / "docs", extra="A longer tail. " * 60)
    with open_store(path=tmp_path / "tokens") as a, open_store(path=tmp_path / "late") as b:
        ra = ingest_folder(root, index="t", encoders=[minilm, minilm_causal], store=a,
                           workers=0, chunking="tokens", **SMALL)  # fmt: skip
        rb = ingest_folder(root, index="t", encoders=[minilm, minilm_causal], store=b,
                           workers=0, chunking="late", **SMALL)  # fmt: skip
        assert ra.chunks == rb.chunks and ra.failed == rb.failed == 0
        assert b.index_record("t")["chunking"]["mode"] == "late"
        sa, sb = snapshot(a, "t"), snapshot(b, "t")
        # Same point ids and payloads, collection for collection (meta aside: it records mode).
        pa, pb = _payloads(sa), _payloads(sb)
        for encoder in ("minilm", "minilm-causal"):
            assert pa[encoder] == pb[encoder]
        # The vectors are late chunking's: each document's spans through encode_spans.
        for encoder, enc in (("minilm", minilm), ("minilm-causal", minilm_causal)):
            stored = _vectors(sb, f"ds__t__{encoder}")
            alone = _vectors(sa, f"ds__t__{encoder}")
            differ = 0
            for doc_id in b.manifest("t"):
                hits = sorted(b.document_chunks("t", doc_id), key=lambda h: h.chunk)
                chunks = [h.payload for h in hits]
                text = parse_file(root / doc_id, doc_id).text
                spans = [(c["start_char"], c["start_char"] + len(c["text"])) for c in chunks]
                (want,) = enc.encode_spans([text], [spans])
                for c, row in zip(chunks, want, strict=True):
                    pid = point_id("t", doc_id, c["chunk"])
                    np.testing.assert_allclose(stored[pid], row, atol=1e-4)
                    differ += not np.allclose(alone[pid], row, atol=1e-3)
            assert differ > 10  # a chunk in context is not the chunk alone


def test_adding_an_encoder_to_a_late_index(tmp_path: Path, minilm, minilm_causal) -> None:
    root = write_folder(tmp_path / "docs", extra="More words about pooling. " * 30)
    with open_store(path=tmp_path / "s") as store, open_store(path=tmp_path / "clean") as clean:
        ingest_folder(root, index="t", encoders=[minilm], store=store, workers=0,
                      chunking="late", **SMALL)  # fmt: skip
        r = ingest_folder(root, index="t", encoders=[minilm_causal], store=store, workers=0)
        assert r.encoder_added == {"minilm-causal": 8}
        ingest_folder(root, index="t", encoders=[minilm, minilm_causal], store=clean, workers=0,
                      chunking="late", **SMALL)  # fmt: skip
        assert_same_points(snapshot(clean, "t"), snapshot(store, "t"))
        # A changed file is late-chunked again, in its new text.
        (root / "diffusion.md").write_text(MD.format(extra="changed " * 40))
        r = ingest_folder(root, index="t", encoders=[minilm], store=store, workers=0)
        assert r.updated == 1
        with pytest.raises(ChunkingMismatchError, match="late"):
            ingest_folder(root, index="t", encoders=[minilm], store=store, workers=0,
                          chunking="tokens")  # fmt: skip


@pytest.mark.parametrize("encoder", ["qwen3-embedding", "e5-mistral", "minilm+cls"])
def test_late_chunking_is_refused_for_pooled_positions(tmp_path: Path, encoder: str) -> None:
    # Refused before any weights are looked for (these are not on this machine).
    root = write_folder(tmp_path / "docs")
    with open_store(path=tmp_path / "s") as store:
        with pytest.raises(IngestError, match=r"late chunking cannot be used.*--chunking tokens"):
            ingest_folder(root, index="t", encoders=["minilm", encoder], store=store, workers=0,
                          chunking="late")  # fmt: skip
        assert store.index_record("t") is None  # nothing was written


@pytest.mark.filterwarnings("ignore:.*has hidden size:UserWarning")
def test_contextual_encoders_late_chunk_by_default(tmp_path: Path, monkeypatch) -> None:
    from tests.encoders.conftest import _bpe_tokenizer
    from tests.encoders.tiny_formats import write_pplx

    weights = tmp_path / "pplx"
    write_pplx(weights, _bpe_tokenizer(), hidden=64, prefixed=False, seed=3)
    monkeypatch.setenv("DIFFSEARCH_WEIGHTS_PPLX_EMBED_CONTEXT_0_6B", str(weights))
    monkeypatch.setenv("DIFFSEARCH_WEIGHTS_PPLX_EMBED_0_6B", str(weights))
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.txt").write_text("Mean pooling averages the hidden states of a passage. " * 20)
    with open_store(path=tmp_path / "s") as store:
        ingest_folder(root, index="ctx", encoders=["pplx-embed-context-0.6b"], store=store,
                      workers=0, chunk_tokens=32, overlap=0)  # fmt: skip
        assert store.index_record("ctx")["chunking"]["mode"] == "late"
        ingest_folder(root, index="plain", encoders=["pplx-embed-0.6b"], store=store, workers=0)
        assert store.index_record("plain")["chunking"]["mode"] == "tokens"
        # With an encoder that does not late-chunk by default, the index is token-chunked.
        ingest_folder(root, index="both", encoders=["pplx-embed-context-0.6b", "pplx-embed-0.6b"],
                      store=store, workers=0)  # fmt: skip
        assert store.index_record("both")["chunking"]["mode"] == "tokens"


def test_cli_ingest_late(tmp_path: Path, capsys) -> None:
    from ui.cli import main

    root = write_folder(tmp_path / "docs")
    argv = ["ingest", str(root), "--index", "t", "-e", "minilm-causal", "--chunking", "late",
            "--chunk-tokens", "64", "--overlap", "8", "--store", str(tmp_path / "s"), "--json"]  # fmt: skip
    assert main(argv) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["chunking"]["mode"] == "late" and report["chunks"] > 8


class _RecordingReversed(LocalEmbedder):
    """Real encoders; records every call and hands results back in reverse order."""

    def __init__(self, specs: Any, loaded: Any = None) -> None:
        super().__init__(specs, loaded)
        self.seen: list[Any] = []

    def embed(self, calls: Iterable[Any]) -> Iterator[Embedded]:
        def recorded() -> Iterator[Any]:
            for call in calls:
                self.seen.append(call)
                yield call

        yield from reversed(list(super().embed(recorded())))


def test_late_chunking_goes_through_the_embedder_seam(tmp_path: Path, monkeypatch) -> None:
    """SpanCalls (whole documents with chunk spans), any result order, small batches: the same
    points as one in-process run."""
    import ingest.pipeline

    root = write_folder(tmp_path / "docs", extra="A longer tail. " * 60)
    specs = [EncoderSpec("minilm"), EncoderSpec("minilm-causal")]
    with open_store(path=tmp_path / "ref") as ref:
        ingest_folder(root, index="t", encoders=specs, store=ref, workers=0, chunking="late",
                      **SMALL)  # fmt: skip
        want = snapshot(ref, "t")
    monkeypatch.setattr(ingest.pipeline, "BATCH_CHUNKS", 6)
    monkeypatch.setattr(ingest.pipeline, "EMBED_CALL_CHUNKS", 4)
    made: list[_RecordingReversed] = []

    def factory(specs: Any, loaded: Any) -> _RecordingReversed:
        made.append(_RecordingReversed(specs, loaded))
        return made[-1]

    with open_store(path=tmp_path / "seam") as store:
        ingest_folder(root, index="t", encoders=specs, store=store, workers=0, chunking="late",
                      embedder=factory, **SMALL)  # fmt: skip
        assert_same_points(want, snapshot(store, "t"), atol=1e-5)
    seen = made[0].seen
    assert seen and all(isinstance(c, SpanCall) for c in seen)
    # A document is never split across calls; a call is one document or several small ones.
    assert any(len(c.texts) > 1 for c in seen) and any(c.rows > 4 for c in seen)
    for call in seen:
        for text, spans in zip(call.texts, call.spans, strict=True):
            assert spans[0][0] >= 0 and spans[-1][1] <= len(text)


def test_span_call_equals_encode_spans(minilm) -> None:
    texts = ("First document. " * 30, "A second, shorter one about pooling.")
    spans = (((0, 80), (64, 200), (180, 480)), ((0, 9), (10, 36)))
    (done,) = LocalEmbedder({"minilm": EncoderSpec("minilm")}).embed(
        [SpanCall("k", "minilm", texts, spans)]
    )
    direct = minilm.encode_spans(list(texts), [list(s) for s in spans])
    assert done.vectors.shape == (5, 384)
    np.testing.assert_array_equal(done.vectors, np.concatenate(direct))


def test_bm25_beside_a_late_encoder_weighs_the_chunk_texts(tmp_path: Path, minilm) -> None:
    """BM25 has no attention: in a late index it scores the same chunks exactly as in a plain
    one, while the dense encoder beside it is late-chunked (and is not refused for BM25)."""
    from encoders.bm25 import load_bm25

    root = write_folder(tmp_path / "docs", extra="A longer tail. " * 60)
    query = load_bm25().encode_queries(["tail of the document"])[0]
    got = {}
    for mode in ("tokens", "late"):
        with open_store(path=tmp_path / mode) as s:
            report = ingest_folder(root, index="t", encoders=[minilm, "bm25"], store=s,
                                   workers=0, chunking=mode, **SMALL)  # fmt: skip
            assert report.failed == 0
            hits = s.engine.search_sparse("ds__t__bm25", query, 50)
            got[mode] = (
                _payloads(snapshot(s, "t"))["bm25"],
                sorted((h.id, round(h.score, 6)) for h in hits),  # ties in any order
                _vectors(snapshot(s, "t"), "ds__t__minilm"),
            )
    assert got["tokens"][0] == got["late"][0]  # same BM25 chunks and payloads
    assert got["tokens"][1] == got["late"][1] and got["late"][1]  # same BM25 scores
    a, b = got["tokens"][2], got["late"][2]
    assert any(not np.allclose(a[p], b[p], atol=1e-3) for p in a)  # minilm was late-chunked
