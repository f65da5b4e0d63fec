"""``diffsearch ingest``: output, exit codes and user-facing errors, on real files and MiniLM."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from search.store import open_store
from tests.ingest.test_pipeline import write_folder
from ui.cli import main

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--chunk-tokens", "64", "--overlap", "8", "--workers", "0"]


@pytest.fixture
def folder(tmp_path, minilm):  # minilm: loaded once per session, reused by the CLI's loader
    return write_folder(tmp_path / "docs")


def _ingest(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["ingest", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_report_and_rerun(folder, tmp_path, capsys):
    store = str(tmp_path / "s")
    code, out, _ = _ingest(
        capsys, str(folder), "--index", "c", "-e", "minilm", "--store", store, "--json", *FAST
    )
    r = json.loads(out)
    assert code == 0 and (r["seen"], r["new"], r["failed"], r["failures"]) == (8, 8, 0, [])
    assert r["chunks"] == r["total_chunks"] > 0 and r["location"] == f"embedded store at {store}"
    assert {
        "seen",
        "new",
        "updated",
        "unchanged",
        "removed",
        "failed",
        "chunks",
        "failures",
        "seconds",
    } <= set(r)
    code, out, _ = _ingest(
        capsys, str(folder), "--index", "c", "--store", store, "--json"
    )  # settings from the index
    r = json.loads(out)
    assert (
        code == 0
        and r["unchanged"] == 8
        and r["encoders"] == ["minilm"]
        and r["chunking"]["chunk_tokens"] == 64
    )


def test_summary_lists_failures_and_strict_exit_code(folder, tmp_path, capsys):
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (folder / "empty.txt").write_bytes(b"")
    store = str(tmp_path / "s")
    code, out, err = _ingest(
        capsys, str(folder), "--index", "c", "-e", "minilm", "--store", store, *FAST
    )
    assert code == 0
    assert "index 'c': 8 documents" in out and "unchanged" in out and "2 file(s) skipped:" in out
    assert "  empty.txt: empty file" in out and "broken.pdf: " in out
    assert "ingesting" in err
    code, out, _ = _ingest(capsys, str(folder), "--index", "c", "--store", store, "--strict")
    assert code == 1 and "2 file(s) skipped" in out
    (folder / "broken.pdf").unlink()
    (folder / "empty.txt").unlink()
    code, _, _ = _ingest(capsys, str(folder), "--index", "c", "--store", store, "--strict")
    assert code == 0


def test_include_exclude_and_keep_removed(folder, tmp_path, capsys):
    store = str(tmp_path / "s")
    code, out, _ = _ingest(capsys, str(folder), "--index", "c", "-e", "minilm", "--store", store, "--json",
                           "--include", "*.md", "--include", "*.txt", "--exclude", "notes/**", *FAST)  # fmt: skip
    assert code == 0 and json.loads(out)["new"] == 1  # diffusion.md only
    code, out, _ = _ingest(
        capsys, str(folder), "--index", "c", "--store", store, "--json", "--include", "*.txt"
    )
    r = json.loads(out)
    assert (r["new"], r["removed"]) == (1, 1)  # notes/stores.txt in, diffusion.md out
    code, out, _ = _ingest(capsys, str(folder), "--index", "c", "--store", store, "--json", "--include", "*.md",
                           "--keep-removed")  # fmt: skip
    r = json.loads(out)
    assert (r["new"], r["removed"], r["total_documents"]) == (1, 0, 2)


def test_adding_an_encoder_from_the_cli(folder, tmp_path, capsys, minilm_causal):
    store = str(tmp_path / "s")
    _ingest(capsys, str(folder), "--index", "c", "-e", "minilm", "--store", store, *FAST)
    code, out, _ = _ingest(
        capsys, str(folder), "--index", "c", "-e", "minilm-causal", "--store", store
    )
    assert (
        code == 0 and "added encoder minilm-causal: 8 documents embedded from stored chunks" in out
    )
    with open_store(path=store) as s:
        assert set(s.index_info("c").encoders) == {"minilm", "minilm-causal"}


def test_user_errors_exit_2_with_one_readable_line(folder, tmp_path, capsys):
    store = str(tmp_path / "s")
    code, _, err = _ingest(capsys, str(folder), "--index", "c", "--store", store)
    assert code == 2 and "name at least one encoder" in err and "Traceback" not in err
    _ingest(capsys, str(folder), "--index", "c", "-e", "minilm", "--store", store, *FAST)
    code, _, err = _ingest(
        capsys, str(folder), "--index", "c", "--store", store, "--chunking", "whole"
    )
    assert code == 2 and "was built with chunking tokens (64 tokens" in err
    code, _, err = _ingest(capsys, str(tmp_path / "nope"), "--index", "c", "--store", store)
    assert code == 2 and "not a folder" in err
    code, _, err = _ingest(capsys, str(folder), "--index", "a/b", "-e", "minilm", "--store", store)
    assert code == 2 and "invalid index name" in err
    code, _, err = _ingest(
        capsys, str(folder), "--index", "c", "-e", "no-such-encoder", "--store", store
    )
    assert code == 2 and "no-such-encoder" in err
    code, _, err = _ingest(
        capsys, str(folder), "--index", "c", "--qdrant-url", "http://127.0.0.1:9"
    )
    assert code == 2 and "no Qdrant server answered at http://127.0.0.1:9" in err


def test_locked_store_message(folder, tmp_path, capsys):
    store = tmp_path / "held"
    holder = textwrap.dedent(f"""
        import sys
        from search.store import open_store
        s = open_store(path={str(store)!r})
        print("ready", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        code, _, err = _ingest(
            capsys, str(folder), "--index", "c", "-e", "minilm", "--store", str(store)
        )
    finally:
        proc.communicate("", timeout=30)
    assert code == 2 and "RuntimeError" not in err
    assert f"the embedded store at {store} is in use by another process" in err
    assert (
        "stop that process" in err and "Ingest tab" in err and "docker compose up -d qdrant" in err
    )


def test_ui_does_not_import_torch():
    code = "import sys, ui.cli, ui.commands.ingest_cmd; ui.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    out = capsys.readouterr().out
    for flag in ("--index", "--encoder", "--chunking", "--chunk-tokens", "--overlap", "--long", "--include",
                 "--exclude", "--keep-removed", "--store", "--qdrant-url", "--json", "--strict"):  # fmt: skip
        assert flag in out
