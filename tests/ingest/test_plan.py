"""The pure plan stage: what a run does, from what it found and the index's manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import IngestError, Record
from ingest.plan import Job, after_hash, chunking_settings, plan_run
from ingest.schema import CHUNK_KEYS, chunk_payloads, manifest_entry

ENCS = ["minilm", "minilm-causal"]


def _entry(size: int = 10, mtime: int = 5, encoders=ENCS, state: str = "complete", sha="s1"):
    return {"state": state, "size": size, "mtime_ns": mtime, "sha256": sha, "n_chunks": 2,
            "encoders": list(encoders)}  # fmt: skip


def _file(doc_id: str, size: int = 10, mtime: int = 5) -> Job:
    return Job(doc_id, path=Path("/docs") / doc_id, size=size, mtime_ns=mtime)


def test_files_are_sorted_into_unchanged_extend_hash_and_remove() -> None:
    manifest = {
        "same.md": _entry(),
        "touched.md": _entry(mtime=1),
        "resized.md": _entry(size=99),
        "one-encoder.md": _entry(encoders=["minilm"]),
        "pending.md": _entry(state="pending"),
        "deleted.md": _entry(),
        "deleted-pending.md": _entry(state="pending"),
        "skipped.pdf": _entry(),
    }
    found = [_file(d) for d in ("same.md", "touched.md", "resized.md", "one-encoder.md",
                                "pending.md", "new.md")]  # fmt: skip
    plan = plan_run(found, manifest, ENCS, also_present=["skipped.pdf"])
    assert [j.doc_id for j in plan.unchanged] == ["same.md", "one-encoder.md"]
    assert [j.doc_id for j in plan.extend] == ["one-encoder.md"]
    assert [j.doc_id for j in plan.to_hash] == ["touched.md", "resized.md", "pending.md", "new.md"]
    assert sorted(plan.remove) == ["deleted-pending.md", "deleted.md"] and plan.removed == 1
    assert plan.preload  # a new file surely needs embedding
    # Jobs carry their manifest entry, and the stored hash only when it is complete.
    by_id = {j.doc_id: j for j in plan.to_hash}
    assert by_id["touched.md"].stored_sha == "s1" and by_id["pending.md"].stored_sha is None
    assert by_id["new.md"].old is None


def test_keep_removed_keeps_complete_documents_only() -> None:
    manifest = {"gone.md": _entry(), "gone-pending.md": _entry(state="pending")}
    plan = plan_run([], manifest, ENCS, keep_removed=True)
    assert plan.remove == ("gone-pending.md",) and plan.removed == 0


def test_only_a_touched_file_is_no_reason_to_load_models() -> None:
    plan = plan_run([_file("a.md", mtime=9)], {"a.md": _entry()}, ENCS)
    assert [j.doc_id for j in plan.to_hash] == ["a.md"] and not plan.preload


def test_records_are_always_hashed_and_duplicates_refused() -> None:
    recs = [Record("d1", "one"), Record("d2", "two"), Record("d1", "again")]
    plan = plan_run(
        [Job(r.doc_id, size=3, record=r) for r in recs], {"d2": _entry(size=3, mtime=0)}, ENCS
    )
    assert [j.doc_id for j in plan.to_hash] == ["d1", "d2"] and plan.duplicates == ("d1",)
    assert plan.unchanged == () and not plan.preload  # records: their hash decides


@pytest.mark.parametrize(
    ("status", "entry", "stat", "expected"),
    [
        ("failed", _entry(), (10, 5), "failed"),
        ("parsed", _entry(), (10, 5), "embed"),
        ("same", _entry(), (10, 5), "unchanged"),
        ("same", _entry(), (10, 7), "touch"),
        ("same", _entry(encoders=["minilm"]), (10, 7), "extend"),
    ],
)
def test_after_hash(status, entry, stat, expected) -> None:
    job = Job("a.md", old=entry, path=Path("/docs/a.md"), size=stat[0], mtime_ns=stat[1])
    decision, job = after_hash(job, status, ENCS)
    assert decision == expected
    if status == "same":  # the entry now carries the file's current stat
        assert (job.old["size"], job.old["mtime_ns"]) == stat


def test_chunking_settings_defaults_index_values_and_errors() -> None:
    assert chunking_settings("i", None, None, None, None, "tokens", True) == {
        "mode": "tokens", "chunk_tokens": 256, "overlap": 32, "tokenizer": None,
    }  # fmt: skip
    record = {
        "chunking": {"mode": "tokens", "chunk_tokens": 64, "overlap": 8, "tokenizer": "minilm"}
    }
    assert chunking_settings("i", record, None, None, None, "whole", True) == record["chunking"]
    assert chunking_settings("i", None, "whole", 99, 5, "tokens", True)["chunk_tokens"] is None
    with pytest.raises(IngestError, match="unknown chunking 'pages'"):
        chunking_settings("i", None, "pages", None, None, "tokens", True)
    with pytest.raises(IngestError, match="overlap"):
        chunking_settings("i", None, "tokens", 16, 16, "tokens", True)
    with pytest.raises(IngestError, match="name at least one encoder"):
        chunking_settings("i", None, None, None, None, "tokens", False)


def test_payload_and_manifest_builders_follow_the_schema() -> None:
    from ingest.chunk import Chunk

    chunks = [Chunk("First part.", 0, 1, "Intro", None, 0), Chunk("Second.", 1, 2, None, "T2", 12)]
    payloads = chunk_payloads("a.pdf", "pdf", "Doc title", chunks, {"lang": "en"})
    assert [tuple(k for k in p if k in CHUNK_KEYS) for p in payloads] == [CHUNK_KEYS] * 2
    assert [p["title"] for p in payloads] == ["Doc title", "T2"]  # a chunk's own title wins
    assert [(p["chunk"], p["n_chunks"], p["start_char"]) for p in payloads] == [
        (0, 2, 0),
        (1, 2, 12),
    ]
    assert (
        payloads[0]["metadata"] == {"lang": "en"}
        and "metadata" not in chunk_payloads("a.pdf", "pdf", None, chunks)[0]
    )
    entry = manifest_entry("a.pdf", filetype="pdf", title="Doc title", n_chunks=2, size=3,
                           mtime_ns=4, sha256="h", encoders=ENCS)  # fmt: skip
    assert entry["state"] == "complete" and entry["encoders"] == ENCS and entry["source"] == "a.pdf"


def test_search_hits_read_every_payload_key() -> None:
    """The store's Hit carries each schema key back to the search side."""
    from dataclasses import fields

    from search.records import Hit

    assert set(CHUNK_KEYS) <= {f.name for f in fields(Hit)}
