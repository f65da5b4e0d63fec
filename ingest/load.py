"""Stage 1 of ingest: find the files under a folder.

:func:`discover` walks a folder and yields a :class:`SourceFile` for each file to ingest and a
:class:`SkippedFile` (with a human-readable reason) for each file it will not ingest, in a
deterministic, sorted order. It never raises for a bad file; only a bad *root* raises
:class:`ingest.errors.IngestError`.

Rules:

* Hidden files and folders (name starting with ``.``, e.g. ``.git``) are passed over silently,
  as are files left out by ``include``/``exclude``. Everything else that is not ingested is
  reported as a :class:`SkippedFile`: unsupported type, broken symlink, symlink loop, permission
  denied, not a regular file (FIFO, socket, device), Office lock file (``~$x.docx``), file name
  that is not valid UTF-8.
* Symlinks are followed, to files and to folders; a folder reached twice through links (a loop,
  or the same folder linked twice) is walked once.
* ``include``/``exclude`` are gitignore-style globs on the posix path relative to the root: a
  pattern without ``/`` matches a name at any depth (``*.pdf``, ``drafts``); a pattern with ``/``
  is anchored at the root (``notes/*.md``); ``**`` spans folders (``drafts/**``, ``**/old/*``); a
  trailing ``/`` matches folders only; matching ignores case (``*.pdf`` takes ``A.PDF``). An
  excluded folder is not walked at all. ``include`` applies to files; an empty ``include``
  means every file.
* A symlink to a folder inside the root is not followed (that folder is walked under its own
  path, so each file gets one canonical relpath); it is reported, as a loop when it points to
  one of its own ancestors. Links to folders outside the root are followed once each.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ingest.errors import IngestError

#: File types (lower-case extensions without the dot) that ``ingest.parse`` can read.
SUPPORTED_TYPES: frozenset[str] = frozenset(
    {
        "txt",
        "text",
        "md",
        "markdown",
        "html",
        "htm",
        "pdf",
        "docx",
        "pptx",
        "odt",
        "rtf",
        "epub",
        "eml",
        "csv",
        "tsv",
        "json",
    }
)


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest.

    Attributes:
        path: Absolute path (through symlinks as found; ``open`` follows them).
        relpath: Posix path relative to the root, the file's identity in the index.
        size: Size in bytes of the file (the link target for a symlink).
        mtime_ns: Modification time in nanoseconds.
    """

    path: Path
    relpath: str
    size: int
    mtime_ns: int

    @property
    def filetype(self) -> str:
        """Lower-case extension without the dot (``"pdf"``)."""
        return filetype_of(self.relpath)


@dataclass(frozen=True)
class SkippedFile:
    """A file that will not be ingested.

    Attributes:
        relpath: Posix path relative to the root.
        reason: Short reason for the run summary (``"unsupported type .xyz"``).
    """

    relpath: str
    reason: str


def filetype_of(name: str | Path) -> str:
    """Return the lower-case extension of ``name`` without the dot, or ``""``.

    Args:
        name: A file name or path.

    Returns:
        The extension, e.g. ``"pdf"`` for ``Report.PDF``.
    """
    suffix = Path(str(name)).suffix
    return suffix[1:].lower() if suffix else ""


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> tuple[re.Pattern[str], bool, bool]:
    """Compile one gitignore-style glob; returns (regex, anchored, dirs_only)."""
    dirs_only = pattern.endswith("/")
    pat = pattern.strip("/") if dirs_only else pattern.lstrip("/")
    anchored = "/" in pat or pattern.startswith("/")
    out: list[str] = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pat.find("]", i + 2)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pat[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL | re.IGNORECASE), anchored, dirs_only


def matches(pattern: str, relpath: str, *, is_dir: bool = False) -> bool:
    """Whether a gitignore-style glob matches ``relpath`` itself (not its parents).

    Args:
        pattern: The glob (``*.pdf``, ``drafts/**``, ``notes/``).
        relpath: Posix path relative to the root.
        is_dir: Whether ``relpath`` is a folder (patterns ending in ``/`` match only folders).

    Returns:
        True when the pattern matches.
    """
    regex, anchored, dirs_only = _glob_regex(pattern)
    if dirs_only and not is_dir:
        return False
    target = relpath if anchored else relpath.rsplit("/", 1)[-1]
    return regex.match(target) is not None


def _excluded(relpath: str, exclude: Sequence[str], *, is_dir: bool) -> bool:
    return any(matches(p, relpath, is_dir=is_dir) for p in exclude)


def _included(relpath: str, include: Sequence[str]) -> bool:
    return not include or any(matches(p, relpath) for p in include)


def _safe_name(name: str) -> str | None:
    """``name`` if it is valid Unicode (no surrogate escapes), else None."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return name


def _printable(relpath: str) -> str:
    """A relpath that can always be encoded (undecodable bytes shown as escapes)."""
    return os.fsencode(relpath).decode("utf-8", "backslashreplace")


def discover(
    root: Path,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    *,
    include_hidden: bool = False,
) -> Iterator[SourceFile | SkippedFile]:
    """Yield the files under ``root`` in sorted, deterministic order.

    Args:
        root: The folder to walk (a single file is accepted too).
        include: Globs; when given, only files matching one of them are considered.
        exclude: Globs; matching files and folders are left out silently.
        include_hidden: Also walk names starting with ``.`` (off by default).

    Yields:
        A :class:`SourceFile` per supported, readable file and a :class:`SkippedFile` with the
        reason for every other file that was not excluded.

    Raises:
        IngestError: When ``root`` does not exist or is not a folder or file.
    """
    root = Path(root).expanduser()
    try:
        root_st = root.stat()
    except OSError as exc:
        raise IngestError(f"cannot read folder {root}: {exc.strerror or exc}") from exc
    root = root.absolute()
    if stat.S_ISREG(root_st.st_mode):
        yield _classify(root, root.name, root_st, include)
        return
    if not stat.S_ISDIR(root_st.st_mode):
        raise IngestError(f"not a folder: {root}")
    visited = {(root_st.st_dev, root_st.st_ino)}
    yield from _walk(root, "", visited, include, exclude, include_hidden, root.resolve())


def _walk(
    folder: Path,
    prefix: str,
    visited: set[tuple[int, int]],
    include: Sequence[str],
    exclude: Sequence[str],
    include_hidden: bool,
    real_root: Path,
) -> Iterator[SourceFile | SkippedFile]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except PermissionError:
        yield SkippedFile(_printable(prefix.rstrip("/") or "."), "permission denied (folder)")
        return
    except OSError as exc:
        yield SkippedFile(_printable(prefix.rstrip("/") or "."), f"cannot read folder: {exc}")
        return
    for entry in entries:
        if entry.name.startswith(".") and not include_hidden:
            continue
        relpath = prefix + entry.name
        if _safe_name(entry.name) is None:
            if not _excluded(_printable(relpath), exclude, is_dir=False):
                yield SkippedFile(_printable(relpath), "file name is not valid UTF-8")
            continue
        path = Path(entry.path)
        try:
            st = os.stat(path)  # follows symlinks
        except OSError as exc:
            if _excluded(relpath, exclude, is_dir=False):
                continue
            yield SkippedFile(relpath, _stat_failure(path, exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            if _excluded(relpath, exclude, is_dir=True):
                continue
            if entry.is_symlink():
                reason = _inner_link(path, real_root)
                if reason:
                    yield SkippedFile(relpath + "/", reason)
                    continue
            key = (st.st_dev, st.st_ino)
            if key in visited:
                yield SkippedFile(
                    relpath + "/", "symlink loop or repeated link (folder already walked)"
                )
                continue
            visited.add(key)
            yield from _walk(
                path, relpath + "/", visited, include, exclude, include_hidden, real_root
            )
            continue
        if _excluded(relpath, exclude, is_dir=False) or not _included(relpath, include):
            continue
        yield _classify(path, relpath, st, ())


def _inner_link(link: Path, real_root: Path) -> str | None:
    """Reason not to follow a folder symlink whose target is inside the root, else None."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return "symlink loop"
    if target != real_root and real_root not in target.parents:
        return None
    real_parent = link.parent.resolve()
    if target == real_parent or target in real_parent.parents:
        return "symlink loop (links to its own parent folder)"
    rel = target.relative_to(real_root).as_posix()
    return f"symlink to a folder inside the root (walked as {rel}/)"


def _stat_failure(path: Path, exc: OSError) -> str:
    """Reason for a file whose ``stat`` failed (usually a symlink problem)."""
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        if exc.errno == errno.ENOENT:
            return f"broken symlink (target missing: {target})"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"permission denied (symlink target {target})"
        return f"unreadable symlink ({exc.strerror})"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return f"cannot read file ({exc.strerror or exc})"


def _classify(
    path: Path, relpath: str, st: os.stat_result, include: Sequence[str]
) -> SourceFile | SkippedFile:
    """Turn one stat'ed non-folder entry into a SourceFile or a SkippedFile."""
    if include and not _included(relpath, include):
        return SkippedFile(relpath, "not matched by include patterns")
    if not stat.S_ISREG(st.st_mode):
        return SkippedFile(relpath, "not a regular file")
    name = relpath.rsplit("/", 1)[-1]
    if name.startswith("~$"):
        return SkippedFile(relpath, "office lock file")
    ext = filetype_of(name)
    if ext not in SUPPORTED_TYPES:
        return SkippedFile(
            relpath, f"unsupported type .{ext}" if ext else "unsupported type (no extension)"
        )
    if not os.access(path, os.R_OK):
        return SkippedFile(relpath, "permission denied")
    return SourceFile(path=path, relpath=relpath, size=st.st_size, mtime_ns=st.st_mtime_ns)


def content_hash(path: Path | str) -> str:
    """Return the hex sha256 of a file's bytes, read in 1 MiB blocks.

    Args:
        path: The file.

    Returns:
        64 lower-case hex digits.

    Raises:
        OSError: When the file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
