"""The ingest pipeline end to end: real files, the real MiniLM, the real embedded Qdrant."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ingest_helpers import MD, assert_same_points, snapshot, write_folder

import ingest.workers
from ingest import (
    ChunkingMismatchError,
    EncoderMismatchError,
    IngestError,
    IngestFailedError,
    Record,
    ingest_folder,
    ingest_records,
)
from search.store import open_store

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"chunk_tokens": 64, "overlap": 8}


@pytest.fixture
def store(tmp_path):
    s = open_store(path=tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def parse_calls(monkeypatch):
    """Relative paths that were actually parsed (in-process runs, workers=0)."""
    calls: list[str] = []
    real = ingest.workers.parse_file

    def counting(path, relpath=None):
        calls.append(relpath)
        return real(path, relpath)

    monkeypatch.setattr(ingest.workers, "parse_file", counting)
    return calls


def test_folder_of_formats_ingests_with_metadata(tmp_path, store, minilm, minilm_causal):
    root = write_folder(tmp_path / "docs")
    report = ingest_folder(
        root, index="t", encoders=[minilm, minilm_causal], store=store, workers=0, **SMALL
    )
    r = report.as_dict()
    assert (r["seen"], r["new"], r["failed"]) == (8, 8, 0), r["failures"]
    assert r["chunks"] == r["total_chunks"] > 8 and r["total_documents"] == 8
    assert set(r["timings"]) >= {"discover", "parse", "chunk", "embed", "write"}
    docs = {d.doc_id: d for d in store.documents("t")}
    assert set(docs) == {"diffusion.md", "notes/stores.txt", "pooling.html", "mail.eml", "table.csv",
                         "config.json", "long.pdf", "notes/training.docx"}  # fmt: skip
    assert (
        docs["long.pdf"].filetype == "pdf"
        and docs["long.pdf"].size == (root / "long.pdf").stat().st_size
    )
    pdf = store.document_chunks("t", "long.pdf")
    assert pdf[0].page == 1 and pdf[-1].page >= 2 and all(h.text.strip() for h in pdf)
    md = store.document_chunks("t", "diffusion.md")
    assert md[0].title == "Diffusion language models" and {h.section for h in md} >= {
        "Diffusion language models"
    }
    # Every encoder embeds the same chunks: same ids and payloads in both collections.
    snap = snapshot(store, "t")
    a, b = snap["ds__t__minilm"], snap["ds__t__minilm-causal"]
    assert {k: v[0] for k, v in a.items()} == {k: v[0] for k, v in b.items()}
    # and the index answers.
    q = minilm.encode_queries(["how do masked diffusion models generate text"])[0]
    assert store.query("t", "minilm", q, k=3)[0].doc_id == "diffusion.md"
    info = store.index_info("t")
    assert info.encoders["minilm-causal"]["attention"] == "causal"
    assert info.chunking == {
        "mode": "tokens",
        "chunk_tokens": 64,
        "overlap": 8,
        "tokenizer": "minilm",
    }


def test_chunking_modes(tmp_path, minilm):
    root = write_folder(tmp_path / "docs", extra="Many words follow here. " * 60)
    with open_store(path=tmp_path / "s") as store:
        ingest_folder(
            root, index="whole", encoders=[minilm], store=store, chunking="whole", workers=0
        )
        ingest_folder(
            root, index="tok", encoders=[minilm], store=store, chunking="tokens", workers=0, **SMALL
        )
        ingest_folder(
            root,
            index="title",
            encoders=[minilm],
            store=store,
            chunking="title",
            workers=0,
            **SMALL,
        )
        assert all(d.n_chunks == 1 for d in store.documents("whole"))
        whole = store.document_chunks("whole", "diffusion.md")[0]
        assert (
            "Attention" in whole.text and minilm.count_tokens(whole.text) > 256
        )  # truncation is the encoder's
        tok = store.document_chunks("tok", "diffusion.md")
        assert len(tok) > 3 and all(minilm.count_tokens(h.text) <= 64 for h in tok)
        assert tok[1].payload["start_char"] < tok[0].payload["start_char"] + len(
            tok[0].text
        )  # overlap
        title = store.document_chunks("title", "diffusion.md")
        assert any(h.section == "Attention" and h.text.startswith("Attention") for h in title)
        assert store.index_info("whole").chunking["mode"] == "whole"


def test_shared_language_docs_in_every_format(mixed_docs, tmp_path, minilm):
    """The same text in txt, md, html, docx, odt, pptx, rtf and epub (shared/data)."""
    with open_store(path=tmp_path / "s") as store:
        r = ingest_folder(mixed_docs / "language-docs", index="lang", encoders=[minilm], store=store,
                          chunking="whole", workers=0)  # fmt: skip
        assert (r.seen, r.new, r.failed) == (9, 9, 0), r.failures
        types = {d.filetype for d in store.documents("lang")}
        assert types == {"txt", "md", "html", "docx", "odt", "pptx", "rtf", "epub"}
        q = minilm.encode_queries(["all human beings are born free and equal in dignity"])[0]
        top = store.query("lang", "minilm", q, k=9)
        assert all(h.text.strip() for h in top) and top[0].score > 0.3


@pytest.mark.slow
def test_all_shared_mixed_docs(mixed_docs, tmp_path, minilm):
    """36 real files incl. an 872-page docx and War and Peace, with parse workers."""
    with open_store(path=tmp_path / "s") as store:
        r = ingest_folder(
            mixed_docs, index="mixed", encoders=[minilm], store=store, chunking="whole"
        )
        assert r.new >= 30 and r.failed <= 2, r.failures
        again = ingest_folder(mixed_docs, index="mixed", encoders=[minilm], store=store)
        assert again.unchanged == r.new and again.chunks == 0


def test_long_windows_policy_is_recorded(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.txt").write_text("Words about diffusion models and retrieval. " * 80)
    with open_store(path=tmp_path / "s") as store:
        ingest_folder(
            root,
            index="w",
            encoders=["minilm"],
            store=store,
            chunking="whole",
            long_policy="windows",
            workers=0,
        )
        assert store.index_info("w").encoders["minilm"]["long_policy"] == "windows"
        (root / "b.txt").write_text("Another document about pooling.")
        with pytest.raises(
            EncoderMismatchError, match="long_policy 'windows' in the index vs 'truncate' now"
        ):
            ingest_folder(
                root, index="w", encoders=["minilm"], store=store, long_policy="truncate", workers=0
            )
        r = ingest_folder(
            root, index="w", encoders=["minilm"], store=store, workers=0
        )  # the index's policy
        assert r.new == 1


def test_incremental_add_change_remove(tmp_path, store, minilm, parse_calls):
    root = write_folder(tmp_path / "docs")
    run = dict(index="t", encoders=[minilm], store=store, workers=0, **SMALL)
    ingest_folder(root, **run)
    parse_calls.clear()
    again = ingest_folder(root, **run)
    assert (again.unchanged, again.new, again.updated, again.chunks) == (
        8,
        0,
        0,
        0,
    ) and parse_calls == []

    (root / "diffusion.md").write_text(MD.format(extra="Now with a changed paragraph. " * 20))
    (root / "new.txt").write_text("A brand new note about retrieval evaluation.")
    (root / "table.csv").unlink()
    os.utime(root / "pooling.html", ns=(1, 1))  # touched, same bytes: hashed, not parsed
    r = ingest_folder(root, **run)
    assert (r.new, r.updated, r.unchanged, r.removed, r.failed) == (1, 1, 6, 1, 0)
    assert sorted(parse_calls) == ["diffusion.md", "new.txt"]
    ids = {d.doc_id for d in store.documents("t")}
    assert "table.csv" not in ids and "new.txt" in ids
    assert store.manifest("t")["pooling.html"]["mtime_ns"] == 1
    parse_calls.clear()
    assert ingest_folder(root, **run).unchanged == 8 and parse_calls == []

    # The end state is exactly that of a clean run over the final folder.
    with open_store(path=tmp_path / "clean") as clean:
        ingest_folder(root, **{**run, "store": clean})
        assert_same_points(snapshot(clean, "t"), snapshot(store, "t"))


def test_shrinking_document_and_keep_removed(tmp_path, store, minilm):
    root = write_folder(tmp_path / "docs", extra="Long paragraph. " * 80)
    run = dict(index="t", encoders=[minilm], store=store, workers=0, **SMALL)
    ingest_folder(root, **run)
    before = store.manifest("t")["diffusion.md"]["n_chunks"]
    (root / "diffusion.md").write_text("# Short\n\nNow it is short.")
    (root / "mail.eml").unlink()
    r = ingest_folder(root, **run, keep_removed=True)
    assert r.removed == 0 and "mail.eml" in {d.doc_id for d in store.documents("t")}
    chunks = store.document_chunks("t", "diffusion.md")
    assert before > 1 and len(chunks) == 1 == chunks[0].n_chunks
    assert store.chunk_count("t", "minilm") == store.index_info("t").chunks
    assert ingest_folder(root, **run).removed == 1


def test_bad_files_are_skipped_with_reasons(tmp_path, store, minilm):
    root = write_folder(tmp_path / "docs")
    bad = root / "bad"
    bad.mkdir()
    (bad / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage\n%%EOF")
    (bad / "broken.docx").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 2)
    (bad / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (bad / "empty.md").write_bytes(b"")
    (bad / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (bad / "loop").symlink_to(bad, target_is_directory=True)
    (bad / "dangling.txt").symlink_to(bad / "nowhere.txt")
    secret = bad / "secret.txt"
    secret.write_text("private")
    secret.chmod(0)
    (root / "latin1.txt").write_bytes(
        "Caf\xe9 cr\xe8me, na\xefve r\xe9sum\xe9 text here.".encode("latin-1")
    )
    (root / "odd name – ünïcode (1).md").write_text("# Odd\n\nA file with an odd name still works.")
    (root / "new\nline.txt").write_text("A newline in the file name.")
    r = ingest_folder(root, index="t", encoders=[minilm], store=store, workers=0, **SMALL)
    failed = {f["source"]: f["reason"] for f in r.failures}
    expected = {
        "bad/corrupt.pdf",
        "bad/broken.docx",
        "bad/binary.txt",
        "bad/empty.md",
        "bad/image.png",
        "bad/dangling.txt",
    }
    assert expected <= set(failed), failed
    assert failed["bad/empty.md"] == "empty file" and "unsupported" in failed["bad/image.png"]
    assert all(reason and "\n" not in reason for reason in failed.values())
    if os.geteuid() != 0:  # root reads anything
        assert "permission" in failed["bad/secret.txt"]
    ok = {d.doc_id for d in store.documents("t")}
    assert {"latin1.txt", "odd name – ünïcode (1).md", "new\nline.txt", "diffusion.md"} <= ok
    assert r.failed == len(r.failures) and r.new == len(ok)
    with pytest.raises(IngestFailedError) as err:
        ingest_folder(
            root, index="t", encoders=[minilm], store=store, workers=0, strict=True, **SMALL
        )
    assert err.value.report.failed == r.failed and err.value.report.unchanged == len(ok)


def test_adding_an_encoder_embeds_stored_chunks_without_parsing(
    tmp_path, store, minilm, minilm_causal, parse_calls
):
    root = write_folder(tmp_path / "docs")
    ingest_folder(root, index="t", encoders=[minilm], store=store, workers=0, **SMALL)
    parse_calls.clear()
    r = ingest_folder(root, index="t", encoders=[minilm_causal], store=store, workers=0)
    assert parse_calls == [] and r.encoder_added == {"minilm-causal": 8} and r.unchanged == 8
    assert r.encoders == ["minilm-causal", "minilm"]
    snap = snapshot(store, "t")
    assert {k: v[0] for k, v in snap["ds__t__minilm"].items()} == {
        k: v[0] for k, v in snap["ds__t__minilm-causal"].items()
    }
    assert all(
        set(m["encoders"]) == {"minilm", "minilm-causal"} for m in store.manifest("t").values()
    )
    # A changed file afterwards is re-embedded by both encoders, though only one is named.
    (root / "diffusion.md").write_text(MD.format(extra="changed"))
    r = ingest_folder(root, index="t", encoders=[minilm], store=store, workers=0)
    assert r.updated == 1 and r.chunks == len(store.document_chunks("t", "diffusion.md"))
    with open_store(path=tmp_path / "clean") as clean:
        ingest_folder(
            root, index="t", encoders=[minilm, minilm_causal], store=clean, workers=0, **SMALL
        )
        assert_same_points(snapshot(clean, "t"), snapshot(store, "t"))


class _Projected:
    """MiniLM under its own name but cut to 128 dimensions: another encoder in disguise."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, 128
        self.attention, self.pooling = inner.attention, inner.pooling

    @property
    def info(self):
        from encoders.model import EncoderInfo

        return EncoderInfo(**{**self.inner.info.as_dict(), "dim": 128})

    def encode_documents(self, texts):
        v = self.inner.encode_documents(texts)[:, :128]
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def token_offsets(self, text):
        return self.inner.token_offsets(text)


def test_dimension_mismatch_is_refused(tmp_path, store, minilm):
    root = write_folder(tmp_path / "docs")
    ingest_folder(root, index="t", encoders=[minilm], store=store, workers=0, **SMALL)
    (root / "more.txt").write_text("One more document.")
    with pytest.raises(EncoderMismatchError, match=r"dim 384 in the index vs 128 now"):
        ingest_folder(root, index="t", encoders=[_Projected(minilm)], store=store, workers=0)
    with pytest.raises(ChunkingMismatchError, match="built with chunking tokens"):
        ingest_folder(root, index="t", encoders=[minilm], store=store, chunking="whole", workers=0)
    assert store.index_info("t").documents == 8


def test_options_are_checked(tmp_path, store, minilm):
    with pytest.raises(IngestError, match="not a folder"):
        ingest_folder(tmp_path / "missing", index="t", encoders=[minilm], store=store)
    (tmp_path / "d").mkdir()
    with pytest.raises(IngestError, match="overlap"):
        ingest_folder(
            tmp_path / "d", index="t", encoders=[minilm], store=store, chunk_tokens=16, overlap=16
        )
    with pytest.raises(IngestError, match="name at least one encoder"):
        ingest_folder(tmp_path / "d", index="t", encoders=[], store=store)


def test_records_pipeline_and_progress(tmp_path, store, minilm):
    events: list[tuple[str, int, int]] = []
    recs = [
        Record(f"d{i}", f"Document {i} is about topic {i}.", title=f"T{i}", metadata={"n": i})
        for i in range(5)
    ]
    r = ingest_records(
        recs, index="beir", encoders=[minilm], store=store, progress=lambda *e: events.append(e)
    )
    assert (r.new, r.chunks, r.failed) == (5, 5, 0)
    assert store.index_info("beir").chunking["mode"] == "whole"
    hit = store.document_chunks("beir", "d3")[0]
    assert hit.title == "T3" and hit.payload["metadata"] == {"n": 3} and "topic 3" in hit.text
    assert {"parse", "embed", "write"} <= {e[0] for e in events}
    assert ("write", 5, 5) in events
    recs[1] = Record("d1", "Changed text.", title="T1")
    r = ingest_records(recs[:4], index="beir", encoders=[minilm], store=store)
    assert (r.unchanged, r.updated, r.removed, r.new) == (3, 1, 1, 0)
    dup = ingest_records([*recs[:4], recs[0]], index="beir", encoders=[minilm], store=store)
    assert dup.failed == 1 and "duplicate" in dup.failures[0]["reason"]


def test_a_long_document_is_embedded_in_calls_that_report_progress(
    tmp_path, minilm, minilm_causal, monkeypatch
):
    """One document of many chunks: the embed bar moves per call, and the vectors equal one call's."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "long.txt").write_text(
        " ".join(f"Sentence {i} is about diffusion models and retrieval." for i in range(150))
    )
    with open_store(path=tmp_path / "whole") as one_call:
        ingest_folder(
            root, index="t", encoders=[minilm, minilm_causal], store=one_call, workers=0, **SMALL
        )
        reference = snapshot(one_call, "t")
    monkeypatch.setattr(ingest.pipeline, "EMBED_CALL_CHUNKS", 4)
    calls: list[int] = []
    real = type(minilm).encode_documents

    def counting(self, texts):
        calls.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(type(minilm), "encode_documents", counting)
    events: list[tuple[str, int, int]] = []
    with open_store(path=tmp_path / "calls") as store:
        r = ingest_folder(root, index="t", encoders=[minilm, minilm_causal], store=store, workers=0,
                          progress=lambda *e: events.append(e), **SMALL)  # fmt: skip
        assert_same_points(reference, snapshot(store, "t"))
    n = r.chunks
    assert n > 8 and max(calls) == 4 and sum(calls) == 2 * n  # both encoders, 4 at a time
    embed = [(done, total) for stage, done, total in events if stage == "embed"]
    assert embed[-1] == (2 * n, 2 * n)
    assert len({done for done, _ in embed}) >= n // 2  # moved at every call, not once at the end


_PARSE_JOB = ingest.workers.parse_job


def _crashing_job(path, relpath, old_sha):
    """Stands in for ``parse_job`` in the workers: kills the worker process on crash.md."""
    if relpath == "crash.md":
        os._exit(3)
    return _PARSE_JOB(path, relpath, old_sha)


def test_parse_workers_in_processes_survive_a_crashing_parser(tmp_path, store, minilm, monkeypatch):
    root = write_folder(tmp_path / "docs")
    (root / "crash.md").write_text("# Crash\n\nThis one kills its worker.")
    monkeypatch.setattr(ingest.workers, "parse_job", _crashing_job)
    r = ingest_folder(root, index="t", encoders=[minilm], store=store, workers=1, **SMALL)
    assert (r.new, r.failures) == (
        8,
        [{"source": "crash.md", "reason": "the parser crashed on this file"}],
    )
    (root / "crash.md").unlink()
    with open_store(path=tmp_path / "inline") as inline:
        ingest_folder(root, index="t", encoders=[minilm], store=inline, workers=0, **SMALL)
        assert_same_points(snapshot(inline, "t"), snapshot(store, "t"))


# -- killed runs ------------------------------------------------------------------------------

KILL_DRIVER = textwrap.dedent("""
    import os, signal, sys
    import ingest.pipeline
    mode, engine, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ingest.pipeline.BATCH_CHUNKS = 6  # several embed-and-write rounds in a small folder
    count = [0]
    def tick():
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
    if mode == "calls":  # after the n-th engine write call (any engine)
        from search.engines.edge import EdgeEngine
        from search.engines.qdrant import QdrantEngine
        for cls in (EdgeEngine, QdrantEngine):
            def write(self, *a, _real=cls.write, **kw):
                _real(self, *a, **kw)
                tick()
            cls.write = write
    else:  # local mode, in the middle of a write call, after the n-th point reached SQLite
        from qdrant_client.local import persistence
        real_p = persistence.CollectionPersistence.persist
        def persist(self, point):
            real_p(self, point)
            tick()
        persistence.CollectionPersistence.persist = persist
    if engine == "qdrant-local":  # a store written before Edge: detected from its files
        from qdrant_client import QdrantClient
        QdrantClient(path=sys.argv[sys.argv.index("--store") + 1]).close()
    from ui.cli import main
    sys.exit(main(sys.argv[4:]))
""")


def _killed_run(root: Path, store: Path, mode: str, n: int, engine: str = "edge") -> int:
    args = ["ingest", str(root), "--index", "k", "-e", "minilm", "-e", "minilm-causal", "--store", str(store),
            "--chunk-tokens", "64", "--overlap", "8", "--workers", "0", "--json"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", KILL_DRIVER, mode, engine, str(n), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode in (0, -9), proc.stderr[-2000:]
    return proc.returncode


@pytest.fixture(scope="module")
def kill_case(tmp_path_factory):
    """A folder and the point set of a clean run over it."""
    from encoders import load_encoder

    root = write_folder(tmp_path_factory.mktemp("kill") / "docs")
    path = tmp_path_factory.mktemp("clean")
    with open_store(path=path) as clean:
        ingest_folder(root, index="k", encoders=[load_encoder("minilm"), load_encoder("minilm-causal")],
                      store=clean, workers=0, **SMALL)  # fmt: skip
        return root, snapshot(clean, "k")


def _kill_and_rerun(tmp_path, kill_case, mode: str, n: int, engine: str = "edge") -> None:
    root, clean = kill_case
    path = tmp_path / f"{mode}{n}"
    assert _killed_run(root, path, mode, n, engine) == -9, "the run ended before the kill point"
    with open_store(path=path) as store:
        assert store.engine_name == engine
        r = ingest_folder(
            root, index="k", encoders=["minilm", "minilm-causal"], store=store, workers=0, **SMALL
        )
        assert r.failed == 0
        assert_same_points(clean, snapshot(store, "k"))


@pytest.mark.parametrize(
    ("mode", "n", "engine"), [("calls", 7, "edge"), ("points", 40, "qdrant-local")]
)
def test_killed_ingest_is_repaired_by_a_rerun(tmp_path, kill_case, mode, n, engine):
    _kill_and_rerun(tmp_path, kill_case, mode, n, engine)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "n", "engine"),
    [*(("calls", n, "edge") for n in (1, 2, 3, 4, 5, 6, 9, 12, 15)),
     *(("calls", n, "qdrant-local") for n in (2, 5, 7, 12)), ("points", 3, "qdrant-local"), ("points", 25, "qdrant-local")],
)  # fmt: skip
def test_killed_ingest_at_many_moments(tmp_path, kill_case, mode, n, engine):
    _kill_and_rerun(tmp_path, kill_case, mode, n, engine)
