"""Side-by-side tables (Markdown and JSON), per-query files and PNG plots of evaluation runs.

Files written for a dataset ``NAME`` into the output folder:

* ``NAME.md`` / ``NAME.json``: the side-by-side table; the JSON also has timings and settings.
* ``NAME.per_query.tsv`` and the per-query block of ``NAME.json``: every query's metrics for
  every encoder, so two runs can be compared later (``diffsearch eval --compare A.json B.json``).
* ``NAME.<encoder>.run``: the ranked hits in TREC run format (``qid Q0 doc rank score tag``),
  readable by ``trec_eval`` (not written by ``--compare``, which has no hits).
* ``NAME.png``: bars per metric per encoder (synthetic suites: Acc@1 against length).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.evaluation.significance import DEFAULT_RESAMPLES, PairedTest, compare_paired

Hits = list[tuple[str, float]]


@dataclass
class EncoderResult:
    """One encoder's run on one dataset.

    Attributes:
        encoder: Encoder name.
        per_query: ``{query_id: {metric: value}}`` for the scored queries.
        means: ``{metric: mean}``.
        run: ``{query_id: [(doc_id, score), ...]}`` best first.
        timings: Seconds: ``ingest``, ``queries`` (embedding + search), ``total``.
        ingest: What ingestion did (documents embedded, reused, skipped).
    """

    encoder: str
    per_query: dict[str, dict[str, float]]
    means: dict[str, float]
    run: dict[str, Hits] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetResult:
    """All encoders on one dataset, with paired comparisons against the first encoder."""

    dataset: str
    split: str
    metrics: list[str]
    n_docs: int
    n_queries: int
    encoders: list[EncoderResult]
    settings: dict[str, Any] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    def compare(self, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> None:
        """Fill :attr:`comparisons`: every other encoder against the first, per metric."""
        self.comparisons = []
        if not self.encoders:
            return
        base = self.encoders[0]
        qids = sorted(base.per_query)
        for other in self.encoders[1:]:
            for metric in self.metrics:
                a = [base.per_query[q][metric] for q in qids]
                b = [other.per_query[q][metric] for q in qids]
                test = compare_paired(a, b, resamples=resamples, seed=seed)
                self.comparisons.append(
                    {
                        "baseline": base.encoder,
                        "other": other.encoder,
                        "metric": metric,
                        **test.as_dict(),
                    }
                )

    def comparison(self, other: str, metric: str) -> PairedTest | None:
        """The paired test of ``other`` against the first encoder on ``metric``, if computed."""
        for c in self.comparisons:
            if c["other"] == other and c["metric"] == metric:
                fields = {k: v for k, v in c.items() if k not in ("baseline", "other", "metric")}
                return PairedTest(**fields)
        return None

    def as_dict(self, *, per_query: bool = True) -> dict[str, Any]:
        """JSON-able form; ``per_query`` adds every query's metrics per encoder."""
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "split": self.split,
            "metrics": self.metrics,
            "n_docs": self.n_docs,
            "n_queries": self.n_queries,
            "settings": self.settings,
            "encoders": {
                e.encoder: {"means": e.means, "timings": e.timings, "ingest": e.ingest}
                for e in self.encoders
            },
            "comparisons": self.comparisons,
        }
        if per_query:
            out["per_query"] = {e.encoder: e.per_query for e in self.encoders}
        return out


def fmt_p(p: float) -> str:
    """A p-value for a table: four decimals, ``<0.0001`` below that."""
    if math.isnan(p):
        return "n/a"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _mark(p: float) -> str:
    return " *" if p < 0.05 else ""


def markdown_table(result: DatasetResult) -> str:
    """The side-by-side table: one column per encoder, then Δ, CI and p-values per comparison."""
    names = [e.encoder for e in result.encoders]
    headers = ["metric", *names]
    for other in names[1:]:
        headers += [f"Δ {other} − {names[0]}", "95% CI", "p (bootstrap)", "p (t-test)"]
    rows = []
    for m in result.metrics:
        row = [m, *(f"{e.means[m]:.4f}" for e in result.encoders)]
        for other in names[1:]:
            t = result.comparison(other, m)
            if t is None:
                row += ["", "", "", ""]
            else:
                row += [
                    f"{t.delta:+.4f}{_mark(t.p_bootstrap)}",
                    f"[{t.ci_low:+.4f}, {t.ci_high:+.4f}]",
                    fmt_p(t.p_bootstrap),
                    fmt_p(t.p_ttest),
                ]
        rows.append(row)
    return _md(headers, rows)


def _md(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _timing_line(result: DatasetResult) -> str:
    parts = []
    for e in result.encoders:
        t = e.timings
        if not t:
            continue
        if "ingest" not in t:  # an index you ingested yourself: only the queries ran
            parts.append(f"{e.encoder}: queries {t.get('queries', 0.0):.1f} s")
            continue
        embed = e.ingest.get("timings", {}).get("embed")
        of_which = f", of which embedding {embed:.1f} s" if embed else ""
        parts.append(
            f"{e.encoder}: ingest {t.get('ingest', 0.0):.1f} s{of_which} "
            f"({e.ingest.get('embedded', '?')} embedded, {e.ingest.get('unchanged', '?')} reused), "
            f"queries {t.get('queries', 0.0):.1f} s"
        )
    return "; ".join(parts)


def markdown_report(result: DatasetResult) -> str:
    """Title, settings, the table and timings, as Markdown."""
    s = result.settings
    signif = (
        f"Δ with * : p < 0.05 (paired bootstrap, {s.get('resamples', DEFAULT_RESAMPLES):,} "
        "resamples, seed 0)."
    )
    if "a" in s and "b" in s:  # two saved runs (diffsearch eval --compare)
        setup = f"A = `{s['a']}`, B = `{s['b']}`, queries in both."
    elif "judgments" in s:  # your own judged queries on an index you ingested
        ranked = (
            "whole documents" if s.get("chunking") == "whole" else "documents by their best chunk"
        )
        setup = (
            f"your judgements `{s['judgments']}` on index `{s.get('index', '')}` "
            f"(chunking `{s.get('chunking')}`, {ranked}), top {s.get('k', 100)} per query."
        )
    else:
        size = (
            f" ({s['chunk_tokens']} tokens, overlap {s['overlap']})" if "chunk_tokens" in s else ""
        )
        setup = (
            f"chunking `{s.get('chunking', 'whole')}`{size}, long inputs "
            f"`{s.get('long_policy', 'truncate')}`, top {s.get('k', 100)} per query, "
            f"index `{s.get('index', '')}`."
        )
    head = (
        f"### {result.dataset} ({result.split}: {result.n_queries:,} queries scored, "
        f"{result.n_docs:,} documents)\n\n{setup} {signif}\n\n"
    )
    timing = _timing_line(result)
    return head + markdown_table(result) + "\n" + (f"\nTime: {timing}\n" if timing else "")


def synthetic_table(results: Sequence[DatasetResult], metric: str = "acc@1") -> str:
    """Rows = lengths, columns = encoders' ``metric``, then Δ and p against the first encoder."""
    if not results:
        return ""
    names = [e.encoder for e in results[0].encoders]
    headers = ["length", *(f"{n} {metric}" for n in names)]
    for other in names[1:]:
        headers += [f"Δ {other} − {names[0]}", "p (bootstrap)", "p (t-test)"]
    rows = []
    for r in results:
        row = [
            str(r.settings.get("length", r.dataset)),
            *(f"{e.means[metric]:.3f}" for e in r.encoders),
        ]
        for other in names[1:]:
            t = r.comparison(other, metric)
            row += (
                ["", "", ""]
                if t is None
                else [
                    f"{t.delta:+.3f}{_mark(t.p_bootstrap)}",
                    fmt_p(t.p_bootstrap),
                    fmt_p(t.p_ttest),
                ]
            )
        rows.append(row)
    return _md(headers, rows)


def write_per_query(result: DatasetResult, path: Path) -> None:
    """``query_id  encoder  metric...`` rows, tab-separated."""
    lines = ["\t".join(["query_id", "encoder", *result.metrics])]
    for e in result.encoders:
        for qid in sorted(e.per_query):
            vals = e.per_query[qid]
            lines.append("\t".join([qid, e.encoder, *(f"{vals[m]:.6f}" for m in result.metrics)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_trec_run(run: Mapping[str, Hits], path: Path, tag: str) -> None:
    """TREC run format: ``qid Q0 doc_id rank score tag``."""
    with path.open("w", encoding="utf-8") as fh:
        for qid, hits in run.items():
            for rank, (doc, score) in enumerate(hits, 1):
                fh.write(f"{qid} Q0 {doc} {rank} {score:.6f} {tag}\n")


def safe_name(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in text)


def write_dataset(result: DatasetResult, out: Path, *, plot: bool = True) -> dict[str, Path]:
    """Write the Markdown, JSON, per-query TSV, TREC runs and the PNG of one dataset."""
    out.mkdir(parents=True, exist_ok=True)
    stem = safe_name(result.dataset)
    paths = {
        "markdown": out / f"{stem}.md",
        "json": out / f"{stem}.json",
        "per_query": out / f"{stem}.per_query.tsv",
    }
    paths["markdown"].write_text(markdown_report(result), encoding="utf-8")
    paths["json"].write_text(
        json.dumps(result.as_dict(), indent=1, sort_keys=False) + "\n", encoding="utf-8"
    )
    write_per_query(result, paths["per_query"])
    for e in (e for e in result.encoders if e.run):
        p = out / f"{stem}.{safe_name(e.encoder)}.run"
        write_trec_run(e.run, p, e.encoder)
        paths[f"run:{e.encoder}"] = p
    if plot:
        paths["png"] = out / f"{stem}.png"
        plot_bars(result, paths["png"])
    return paths


def plot_bars(result: DatasetResult, path: Path) -> None:
    """Grouped bars: one group per metric, one bar per encoder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [e.encoder for e in result.encoders]
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(1.6 + 1.6 * len(result.metrics), 3.6), dpi=110)
    for i, e in enumerate(result.encoders):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(result.metrics))]
        vals = [e.means[m] for m in result.metrics]
        bars = ax.bar(xs, vals, width, label=e.encoder)
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in vals], fontsize=7, padding=2)
    ax.set_xticks(range(len(result.metrics)), result.metrics)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"{result.dataset} ({result.split}, {result.n_queries} queries)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_lengths(
    results: Sequence[DatasetResult], path: Path, title: str, metric: str = "acc@1"
) -> None:
    """Acc@1 (or ``metric``) against document length, one line per encoder, log2 x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=110)
    if results:
        lengths = [int(r.settings.get("length", 0)) for r in results]
        for i, e in enumerate(results[0].encoders):
            ys = [r.encoders[i].means[metric] for r in results]
            ax.plot(lengths, ys, marker="o", label=e.encoder)
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("document length (tokens)")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_synthetic(
    task: str, results: Sequence[DatasetResult], out: Path, settings: dict[str, Any]
) -> dict[str, Path]:
    """The per-length table and plot of a synthetic suite, plus each length's own files."""
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for r in results:
        for key, p in write_dataset(r, out, plot=False).items():
            paths[f"{r.dataset}:{key}"] = p
    title = f"{task}: Acc@1 against document length (long inputs: {settings.get('long_policy', 'truncate')})"
    head = (
        f"### {task} ({settings.get('n_docs')} documents and {settings.get('n_queries')} queries per "
        f"length, seed {settings.get('seed')}, long inputs `{settings.get('long_policy')}`)\n\n"
        f"Text: {settings.get('haystack', '')}. Δ with * : p < 0.05 (paired bootstrap).\n\n"
    )
    paths["markdown"] = out / f"{task}.md"
    paths["markdown"].write_text(head + synthetic_table(results) + "\n", encoding="utf-8")
    paths["json"] = out / f"{task}.json"
    summary = {
        "task": task,
        "settings": settings,
        "lengths": [r.as_dict(per_query=False) for r in results],
    }
    paths["json"].write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    paths["png"] = out / f"{task}.png"
    plot_lengths(results, paths["png"], title)
    return paths
