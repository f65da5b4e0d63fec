"""The web UI's process-wide state (:class:`WebContext`) and the catalogue every tab reads."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ui.errors import user_error_types
from ui.web import render

log = logging.getLogger("diffsearch.ui")

NONE_CHOICE = "— none (single encoder) —"
Progress = Callable[[str, int, int], None]


def error_html(exc: BaseException, doing: str) -> str:
    """A readable message for ``exc``; unexpected ones are logged with their traceback."""
    if isinstance(exc, user_error_types()):
        return render.message(str(exc), "error", title=f"Could not {doing}:")
    log.exception("unexpected error while trying to %s", doing)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return render.message(
        f"{detail}. The details are in the server's log.",
        "error",
        title=f"Something went wrong while trying to {doing}:",
    )


def plain(hit: Any) -> dict[str, Any]:
    """A ``RankedHit`` (or a store ``Hit``) as a flat dict for rendering."""
    if isinstance(hit, Mapping):
        return dict(hit)
    as_dict = getattr(hit, "as_dict", None)
    if callable(as_dict):
        return dict(as_dict())
    from dataclasses import asdict, is_dataclass

    if is_dataclass(hit) and not isinstance(hit, type):
        return asdict(hit)
    return dict(vars(hit))


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


class WebContext:
    """The UI's process-wide state: one open store, one search service, the allow-list.

    Args:
        store: The open ``search.store.Store`` (embedded stores are locked per process, so the
            UI opens it once and ingests through this same object).
        default_index: Index selected when the page opens.
        allow_dirs: Server-side folders a user may re-index or evaluate (BEIR folders); nothing
            else on the server's file system can be named from the browser.
        max_upload_mb: Largest upload accepted, per file.
        upload_dir: Where uploaded files are kept for ingestion (default: a temp folder).
        service: The search service (default: one over ``store``).
        model_paths: ``--weights`` / ``--adapter`` folders (``encoders.ModelPaths``), for
            every encoder the page builds (search, ingest, evaluation).
    """

    def __init__(
        self,
        store: Any,
        *,
        default_index: str | None = None,
        allow_dirs: Iterable[str | Path] = (),
        max_upload_mb: float = 50,
        upload_dir: str | Path | None = None,
        service: Any = None,
        model_paths: Any = None,
    ) -> None:
        from encoders.spec import ModelPaths

        self.model_paths = model_paths or ModelPaths()
        if service is None:
            from search.service import SearchService

            service = SearchService(store, paths=self.model_paths)
        self.store = store
        self.service = service
        self.default_index = default_index
        self.allow_dirs = [Path(d).expanduser().resolve() for d in allow_dirs]
        self.max_upload_mb = float(max_upload_mb)
        self.upload_dir = (
            Path(upload_dir) if upload_dir else Path(tempfile.mkdtemp(prefix="diffsearch-ui-"))
        )
        # One write at a time: ingest and eval runs share the store with queries.
        self.write_lock = threading.Lock()

    # -- catalogue -----------------------------------------------------------------------------

    def index_names(self) -> list[str]:
        try:
            return sorted(
                i.name for i in self.service.indexes() if not str(i.name).startswith("eval")
            )
        except Exception:
            log.exception("could not list indexes")
            return []

    def initial_index(self) -> str | None:
        names = self.index_names()
        if self.default_index in names:
            return self.default_index
        return names[0] if names else None

    def encoders_of(self, index: str | None) -> dict[str, dict[str, Any]]:
        if not index:
            return {}
        try:
            return {k: dict(v) for k, v in self.service.index(index).encoders.items()}
        except Exception:
            return {}

    def chunking_of(self, index: str | None) -> dict[str, Any] | None:
        """The chunking an existing index was built with (its record), None for a new name."""
        if not index:
            return None
        try:
            return dict(self.service.index(index).chunking)
        except Exception:
            return None

    def encoder_choices(self, index: str | None) -> list[tuple[str, str]]:
        """``(label, name)`` pairs: the index's encoders with family and attention, then a
        ``hybrid:DENSE,bm25`` retriever per dense encoder when the index has BM25."""
        from search.hybrid import hybrid_info, retrievers

        encs = self.encoders_of(index)
        out = [(render.encoder_label(n, i), n) for n, i in encs.items()]
        for dense, sparse in retrievers(encs):
            info = hybrid_info(encs[dense], encs[sparse])
            out.append((render.encoder_label(info["name"], info), info["name"]))
        return out

    def default_pair(self, index: str | None) -> tuple[str | None, str | None]:
        """Encoder A and B to preselect: prefer a diffusion/bidirectional vs AR/causal pair."""
        encs = self.encoders_of(index)
        names = list(encs)
        if not names:
            return None, None
        if len(names) == 1:
            return names[0], None

        def score(name: str) -> int:
            info = encs[name]
            return (info.get("family") == "diffusion") * 2 + (
                info.get("attention") == "bidirectional"
            )

        dense = [n for n in names if encs[n].get("kind") != "sparse"] or names
        a = max(dense, key=score)
        # BM25 is picked by hand (or as a hybrid): the default pair compares two encoders.
        rest = [n for n in dense if n != a] or [n for n in names if n != a]
        b = min(rest, key=score)
        return a, b

    def index_summary(self, index: str | None) -> str:
        """One plain line under the index picker: documents and chunks."""
        if not index:
            return "no index yet: add documents in the Ingest tab"
        try:
            info = self.service.index(index)
        except Exception as exc:
            return str(exc) if isinstance(exc, user_error_types()) else "cannot read this index"
        return f"{info.documents:,} docs · {info.chunks:,} chunks"

    # -- folders ------------------------------------------------------------------------------

    def allowed_dir(self, folder: str | None) -> Path:
        """``folder`` if it is one of the allow-listed folders (or inside one)."""
        from search.errors import SearchError

        if not folder:
            raise SearchError("pick a folder from the list")
        path = Path(folder).expanduser().resolve()
        if not any(path == root or _is_within(path, root) for root in self.allow_dirs):
            raise SearchError(
                "that folder is not on the server's allow-list; start the UI with "
                "--allow-dir FOLDER to offer it here"
            )
        if not path.is_dir():
            raise SearchError(f"{path} is not a folder on the server")
        return path

    def folder_choices(self) -> list[str]:
        return [str(d) for d in self.allow_dirs]

    def beir_choices(self) -> list[str]:
        """BEIR folders on the allow-list: allow-listed folders and their direct subfolders."""
        found: list[str] = []
        for root in self.allow_dirs:
            candidates = [root]
            with contextlib.suppress(OSError):
                candidates += sorted(p for p in root.iterdir() if p.is_dir())
            found += [str(p) for p in candidates if (p / "corpus.jsonl").is_file()]
        return list(dict.fromkeys(found))


def safe_name(name: str) -> str:
    """A file or folder name with nothing that could climb out of its folder."""
    base = Path(name.replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in base).strip(" .")
    return cleaned or "upload"
