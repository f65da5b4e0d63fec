"""What the web UI does when a user acts: parse the input, call a service, return markup.

Gradio-free (app.py turns these results into component updates) and torch-free: the services
load encoders lazily, on the first query or ingest. Every method catches the errors a user can
fix and returns them as a readable message for the page; anything unexpected is logged with its
traceback on the server and shown as one line, never as a stack trace.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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


def _plain(hit: Any) -> dict[str, Any]:
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


def parse_filters(text: str | None) -> Any:
    """``filetype=pdf; source='notes/*'; page=2..5`` -> the service's filters (or None).

    Expressions are separated by ``;`` or new lines (commas separate alternatives inside one).
    """
    if not text or not text.strip():
        return None
    from search.filters import parse_where

    exprs = [part.strip() for chunk in text.splitlines() for part in chunk.split(";")]
    return parse_where([e for e in exprs if e])


@dataclass
class SearchView:
    """What a search returns to the page."""

    header: str
    results: str
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class IngestView:
    summary: str
    indexes: list[str] = field(default_factory=list)


@dataclass
class EvalView:
    table: str
    plot: str | None = None
    message: str = ""


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
    ) -> None:
        if service is None:
            from search.service import SearchService

            service = SearchService(store)
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

    def encoder_choices(self, index: str | None) -> list[tuple[str, str]]:
        """``(label, name)`` pairs: the index's encoders with family and attention."""
        return [(render.encoder_label(n, i), n) for n, i in self.encoders_of(index).items()]

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

        a = max(names, key=score)
        rest = [n for n in names if n != a]
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

    # -- search --------------------------------------------------------------------------------

    def search(
        self,
        query: str | None,
        index: str | None,
        encoder_a: str | None,
        encoder_b: str | None,
        k: float | int | None = 10,
        level: str = "doc",
        instruction: str | None = None,
        filters: str | None = None,
    ) -> SearchView:
        query = (query or "").strip()
        if not query:
            return SearchView(
                render.message("Type a question or some keywords, then press Enter.", "info",
                               title="The query is empty."),
                "",
            )  # fmt: skip
        if not index:
            return SearchView(
                render.message(
                    "There is no index to search yet. Add documents in the Ingest tab.", "error",
                    title="No index selected.",
                ),
                "",
            )  # fmt: skip
        if not encoder_a and encoder_b and encoder_b != NONE_CHOICE:
            encoder_a, encoder_b = encoder_b, None
        if not encoder_a:
            return SearchView(render.message("Pick encoder A.", "error", title="No encoder."), "")
        if encoder_b in (None, "", NONE_CHOICE) or encoder_b == encoder_a:
            encoder_b = None
        try:
            kk = int(k or 10)
            where = parse_filters(filters)
            instr = (instruction or "").strip() or None
            if encoder_b is None:
                result = self.service.search(
                    query, index=index, encoder=encoder_a, k=kk, level=level,
                    instruction=instr, where=where,
                )  # fmt: skip
                hits = [_plain(h) for h in result.hits]
                header = _single_header(len(hits), kk, level, result.seconds)
                body = render.results_html(query, level, encoder_a, hits, result.encoder)
            else:
                comp = self.service.compare(
                    query, index=index, encoders=(encoder_a, encoder_b), k=kk, level=level,
                    instruction=instr, where=where,
                )  # fmt: skip
                agr = comp.agreement
                header = render.agreement_html(
                    agr.overlap_at_k, agr.rbo, agr.k, len(agr.shared), level,
                    [sum(comp.left.seconds.values()), sum(comp.right.seconds.values())],
                    depth=agr.depth,
                )  # fmt: skip
                body = render.results_html(
                    query, level,
                    encoder_a, [_plain(h) for h in comp.left.hits], comp.left.encoder,
                    encoder_b, [_plain(h) for h in comp.right.hits], comp.right.encoder,
                )  # fmt: skip
        except Exception as exc:
            return SearchView(error_html(exc, "run the query"), "")
        return SearchView(header, body, {"index": index, "query": query})

    # -- document view -------------------------------------------------------------------------

    def document(
        self, index: str | None, doc_id: str | None, chunk: Any = None, query: str = ""
    ) -> str:
        """The document's chunks from the index (never from the file system)."""
        if not index or not doc_id:
            return ""
        try:
            focus = int(chunk) if chunk not in (None, "") else None
        except (TypeError, ValueError):
            focus = None
        try:
            chunks = [_plain(h) for h in self.service.document(index, str(doc_id))]
        except Exception as exc:
            return error_html(exc, "open the document")
        return render.document_html(chunks, focus, query)

    # -- ingest --------------------------------------------------------------------------------

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

    def ingest_uploads(
        self,
        files: Sequence[Any] | None,
        index: str | None,
        encoders: Sequence[str] | None,
        on_progress: Progress | None = None,
    ) -> IngestView:
        """Copy uploaded files into the index's upload folder and ingest that folder."""
        if not files:
            return IngestView(render.message("Choose one or more files to upload first.", "info"))
        limit = self.max_upload_mb * 1024 * 1024
        index = (index or "").strip()
        target = self.upload_dir / _safe_name(index or "uploads")
        staged: list[Path] = []
        try:
            target.mkdir(parents=True, exist_ok=True)
            for f in files:
                src = Path(getattr(f, "name", None) or str(f))
                if src.stat().st_size > limit:
                    return IngestView(
                        render.message(
                            f"{src.name} is larger than the upload limit of {self.max_upload_mb:g} MB.",
                            "error", title="File too large.",
                        )
                    )  # fmt: skip
                dest = target / _safe_name(src.name)
                shutil.copyfile(src, dest)
                staged.append(dest)
        except OSError as exc:
            return IngestView(error_html(exc, "store the upload"))
        # Uploads accumulate in one folder per index; earlier uploads stay in the index.
        return self._ingest(target, index, encoders, on_progress, keep_removed=True, workers=0)

    def ingest_folder(
        self,
        folder: str | None,
        index: str | None,
        encoders: Sequence[str] | None,
        on_progress: Progress | None = None,
    ) -> IngestView:
        """Re-index an allow-listed server-side folder."""
        try:
            root = self.allowed_dir(folder)
        except Exception as exc:
            return IngestView(error_html(exc, "re-index the folder"))
        return self._ingest(root, (index or "").strip(), encoders, on_progress, keep_removed=False)

    def _ingest(
        self,
        root: Path,
        index: str,
        encoders: Sequence[str] | None,
        on_progress: Progress | None,
        keep_removed: bool,
        workers: int | None = None,
    ) -> IngestView:
        if not index:
            return IngestView(render.message("Name the index to add the documents to.", "error"))
        encs = [e for e in (encoders or []) if e]
        if not encs:
            encs = list(self.encoders_of(index))
        if not encs:
            return IngestView(
                render.message(
                    "Pick at least one encoder for a new index.", "error", title="No encoder."
                )
            )
        try:
            from ingest.pipeline import ingest_folder

            t0 = time.perf_counter()
            with self.write_lock:
                report = ingest_folder(
                    root, index=index, encoders=encs, store=self.store, progress=on_progress,
                    keep_removed=keep_removed, workers=workers, bars=False,
                )  # fmt: skip
            data = report.as_dict()
            summary = render.ingest_summary_html(data, time.perf_counter() - t0)
        except Exception as exc:
            return IngestView(error_html(exc, "ingest the files"), self.index_names())
        return IngestView(summary, self.index_names())

    # -- evaluation ----------------------------------------------------------------------------

    def beir_choices(self) -> list[str]:
        """BEIR folders on the allow-list: allow-listed folders and their direct subfolders."""
        found: list[str] = []
        for root in self.allow_dirs:
            candidates = [root]
            with contextlib.suppress(OSError):
                candidates += sorted(p for p in root.iterdir() if p.is_dir())
            found += [str(p) for p in candidates if (p / "corpus.jsonl").is_file()]
        return list(dict.fromkeys(found))

    def evaluate(
        self,
        source: str,
        beir_folder: str | None,
        task: str | None,
        encoders: Sequence[str] | None,
        *,
        max_queries: float | int | None = 50,
        lengths: str | None = "256,512,1024",
        n_docs: float | int | None = 20,
        n_queries: float | int | None = 10,
        chunking: str = "whole",
        judgments: str | None = None,
        index: str | None = None,
        on_log: Callable[[str], None] | None = None,
    ) -> EvalView:
        """Run an evaluation in this process; the table as Markdown and the plot as a PNG path.

        ``source`` is ``beir`` (a folder of the allow-list), ``synthetic`` (passkey or needle)
        or ``judgments`` (an uploaded file of your own judged queries over ``index``; no
        encoders picked means all of the index's).
        """
        from ui.web import evaluation, judge

        out = (
            self.upload_dir.parent
            / (self.upload_dir.name + "-eval")
            / time.strftime("%Y%m%d-%H%M%S")
        )
        log_fn = on_log or (lambda _line: None)
        encs = [e for e in (encoders or []) if e]
        try:
            with self.write_lock:
                if source == "judgments":
                    collected = judge.judgments_path(self, index) if index else None
                    table, paths = evaluation.judged(
                        self.store, judgments, index, encs, out, log_fn, collected
                    )
                elif source == "beir":
                    allowed = (
                        self.allowed_dir(beir_folder)
                        if beir_folder in self.beir_choices()
                        else None
                    )
                    table, paths = evaluation.beir(
                        self.store, allowed, encs, chunking, max_queries, out, log_fn
                    )
                else:
                    table, paths = evaluation.synthetic(self.store, task, encs, chunking, lengths,
                                                        n_docs, n_queries, out, log_fn)  # fmt: skip
        except Exception as exc:
            return EvalView("", None, error_html(exc, "run the evaluation"))
        png = paths.get("png")
        return EvalView(
            table, str(png) if png else None, render.message(f"Results written to {out}.", "ok")
        )


def _single_header(n: int, k: int, level: str, seconds: Mapping[str, float]) -> str:
    unit = "documents" if level == "doc" else "chunks"
    took = sum(v for v in seconds.values() if v is not None) * 1000
    return (
        f'<div class="ds-agreement ds-single-head"><div class="ds-metric-note">'
        f"{n} {unit} (top {k}) · {took:.0f} ms · pick encoder B to compare</div></div>"
    )


def _safe_name(name: str) -> str:
    """A file or folder name with nothing that could climb out of its folder."""
    base = Path(name.replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in base).strip(" .")
    return cleaned or "upload"
