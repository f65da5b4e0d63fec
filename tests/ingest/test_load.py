"""Tests of ingest.load: discovery order, filters, symlinks, bad entries, hashing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ingest import load
from ingest.errors import IngestError
from ingest.load import SkippedFile, SourceFile, content_hash, discover, matches


def _touch(root: Path, rel: str, data: bytes = b"hello world\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in (
        "a.txt",
        "b.md",
        "B2.MD",
        "sub/c.html",
        "sub/deep/d.pdf",
        "drafts/e.md",
        "drafts/old/f.txt",
        ".git/config.txt",
        ".hidden.md",
        "odd name ü.txt",
        "new\nline.txt",
        "x.xyz",
        "noext",
        "~$lock.docx",
    ):
        _touch(tmp_path, rel)
    return tmp_path


def _split(items: list[SourceFile | SkippedFile]) -> tuple[list[str], dict[str, str]]:
    found = [i.relpath for i in items if isinstance(i, SourceFile)]
    skipped = {i.relpath: i.reason for i in items if isinstance(i, SkippedFile)}
    return found, skipped


def test_discover_finds_supported_files_in_sorted_order(tree: Path) -> None:
    items = list(discover(tree))
    found, skipped = _split(items)
    assert found == [
        "B2.MD",
        "a.txt",
        "b.md",
        "drafts/e.md",
        "drafts/old/f.txt",
        "new\nline.txt",
        "odd name ü.txt",
        "sub/c.html",
        "sub/deep/d.pdf",
    ]
    assert skipped == {
        "noext": "unsupported type (no extension)",
        "x.xyz": "unsupported type .xyz",
        "~$lock.docx": "office lock file",
    }
    assert list(discover(tree)) == items  # deterministic
    first = next(i for i in items if isinstance(i, SourceFile))
    assert first.size == len(b"hello world\n") and first.mtime_ns > 0 and first.path.is_file()
    assert first.filetype == "md"


def test_hidden_entries_are_passed_over_unless_asked(tree: Path) -> None:
    found, _ = _split(list(discover(tree)))
    assert not any(r.startswith(".") or "/." in r for r in found)
    found, _ = _split(list(discover(tree, include_hidden=True)))
    assert ".git/config.txt" in found and ".hidden.md" in found


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (["*.md"], [], ["B2.MD", "b.md", "drafts/e.md"]),  # any depth, case-insensitive ext
        (["sub/**"], [], ["sub/c.html", "sub/deep/d.pdf"]),
        (["**/*.pdf"], [], ["sub/deep/d.pdf"]),
        (["sub/*.html"], [], ["sub/c.html"]),
        (
            [],
            ["drafts/**"],
            [
                "B2.MD",
                "a.txt",
                "b.md",
                "new\nline.txt",
                "odd name ü.txt",
                "sub/c.html",
                "sub/deep/d.pdf",
            ],
        ),
        (
            [],
            ["drafts"],
            [
                "B2.MD",
                "a.txt",
                "b.md",
                "new\nline.txt",
                "odd name ü.txt",
                "sub/c.html",
                "sub/deep/d.pdf",
            ],
        ),
        (["*.md", "*.txt"], ["drafts/", "odd*"], ["B2.MD", "a.txt", "b.md", "new\nline.txt"]),
        (["*.MD"], ["b2.md"], ["b.md", "drafts/e.md"]),
        (
            [],
            ["deep"],
            [
                "B2.MD",
                "a.txt",
                "b.md",
                "drafts/e.md",
                "drafts/old/f.txt",
                "new\nline.txt",
                "odd name ü.txt",
                "sub/c.html",
            ],
        ),
        (["*.txt"], ["old/"], ["a.txt", "new\nline.txt", "odd name ü.txt"]),
    ],
)
def test_include_exclude(
    tree: Path, include: list[str], exclude: list[str], expected: list[str]
) -> None:
    found, skipped = _split(list(discover(tree, include, exclude)))
    assert found == expected
    if include:  # files left out by include are not reported as skipped
        assert all(not r.endswith((".xyz", "noext")) for r in skipped)


def test_matches_semantics() -> None:
    assert matches("*.pdf", "a/b/c.pdf")
    assert not matches("*.pdf", "a/b/c.pdfx")
    assert matches("a/*.pdf", "a/c.pdf") and not matches("a/*.pdf", "x/a/c.pdf")
    assert matches("**/c.pdf", "c.pdf") and matches("**/c.pdf", "a/b/c.pdf")
    assert matches("drafts/**", "drafts/x/y.md")
    assert matches("notes/", "notes", is_dir=True) and not matches("notes/", "notes")
    assert matches("file?.txt", "file1.txt") and matches("[ab].txt", "b.txt")


def test_symlinks_followed_loops_and_broken_reported(tmp_path: Path) -> None:
    _touch(tmp_path, "real/a.txt")
    os.symlink(tmp_path / "real" / "a.txt", tmp_path / "link.txt")
    os.symlink(tmp_path / "real", tmp_path / "linkdir")
    os.symlink(tmp_path, tmp_path / "real" / "loop")  # folder loop back to the root
    os.symlink("self.txt", tmp_path / "self.txt")  # link to itself
    os.symlink(tmp_path / "missing.md", tmp_path / "broken.md")
    found, skipped = _split(list(discover(tmp_path)))
    assert "link.txt" in found and "real/a.txt" in found
    assert "linkdir/a.txt" not in found  # a folder inside the root is walked once, as itself
    assert skipped["self.txt"] == "symlink loop"
    assert skipped["broken.md"].startswith("broken symlink (target missing:")
    assert skipped["real/loop/"].startswith("symlink loop")
    assert skipped["linkdir/"] == "symlink to a folder inside the root (walked as real/)"


def test_symlinks_to_outside_folders_are_followed_once(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _touch(outside, "o.md")
    os.symlink(outside, outside / "again")  # a loop outside the root
    root = tmp_path / "root"
    _touch(root, "r.txt")
    os.symlink(outside, root / "ext1")
    os.symlink(outside, root / "ext2")
    found, skipped = _split(list(discover(root)))
    assert found == ["ext1/o.md", "r.txt"]
    assert skipped["ext1/again/"].startswith("symlink loop")
    assert skipped["ext2/"].startswith("symlink loop or repeated link")


def test_fifo_and_directory_named_like_a_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "folder.txt").mkdir()
    _touch(tmp_path, "folder.txt/inside.md")
    found, skipped = _split(list(discover(tmp_path)))
    assert skipped == {"pipe.txt": "not a regular file"}
    assert found == ["folder.txt/inside.md"]


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = _touch(tmp_path, "secret.txt")
    _touch(tmp_path, "open.txt")
    real_access = os.access
    # Tests run as root, who can read a chmod 000 file: simulate what a normal user sees.
    monkeypatch.setattr(
        load.os, "access", lambda p, mode: False if Path(p) == secret else real_access(p, mode)
    )
    found, skipped = _split(list(discover(tmp_path)))
    assert found == ["open.txt"]
    assert skipped == {"secret.txt": "permission denied"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads chmod 000 files; simulated above")
def test_unreadable_file_really(tmp_path: Path) -> None:
    secret = _touch(tmp_path, "secret.txt")
    secret.chmod(0)
    try:
        _, skipped = _split(list(discover(tmp_path)))
    finally:
        secret.chmod(0o644)
    assert skipped == {"secret.txt": "permission denied"}


def test_unreadable_folder_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _touch(tmp_path, "locked/a.txt")
    _touch(tmp_path, "b.txt")
    real_scandir = os.scandir

    def scandir(path: os.PathLike[str] | str):  # type: ignore[no-untyped-def]
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(load.os, "scandir", scandir)
    found, skipped = _split(list(discover(tmp_path)))
    assert found == ["b.txt"]
    assert skipped == {"locked": "permission denied (folder)"}


def test_non_utf8_file_name(tmp_path: Path) -> None:
    try:
        fd = os.open(os.fsencode(tmp_path) + b"/bad\xff.txt", os.O_CREAT | os.O_WRONLY)
    except OSError as exc:  # pragma: no cover - some filesystems refuse such names
        pytest.skip(f"filesystem refuses non-UTF-8 names: {exc}")
    os.close(fd)
    items = list(discover(tmp_path))
    assert len(items) == 1 and isinstance(items[0], SkippedFile)
    assert items[0].reason == "file name is not valid UTF-8"
    items[0].relpath.encode("utf-8")  # printable, encodable


def test_bad_root(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="cannot read folder"):
        list(discover(tmp_path / "nope"))
    one = _touch(tmp_path, "one.md")
    items = list(discover(one))
    assert [i.relpath for i in items] == ["one.md"] and isinstance(items[0], SourceFile)


def test_content_hash_streams(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    path = _touch(tmp_path, "big.pdf", data)
    assert content_hash(path) == hashlib.sha256(data).hexdigest()
    assert content_hash(str(path)) == content_hash(path)
