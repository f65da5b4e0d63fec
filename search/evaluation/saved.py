"""Comparing two saved evaluation runs (their ``NAME.json`` files) query by query."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.evaluation.report import DatasetResult, EncoderResult
from search.evaluation.significance import DEFAULT_RESAMPLES


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SearchError(f"cannot read evaluation results {path}: {exc}") from None
    if not isinstance(data, dict) or "per_query" not in data:
        raise SearchError(
            f"{path} has no per-query results: pass a dataset's NAME.json written by diffsearch eval"
        )
    return data


def _pick(
    data: dict[str, Any], path: Path, encoder: str | None
) -> tuple[str, dict[str, dict[str, float]]]:
    per_query: dict[str, dict[str, dict[str, float]]] = data["per_query"]
    if encoder is None:
        encoder = next(iter(per_query), None)
    if encoder is None or encoder not in per_query:
        raise SearchError(f"{path} has no encoder {encoder!r} (it has: {', '.join(per_query)})")
    return encoder, per_query[encoder]


def compare_saved(
    path_a: str | Path,
    path_b: str | Path,
    *,
    encoder_a: str | None = None,
    encoder_b: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> DatasetResult:
    """Paired comparison of one encoder's per-query scores in each of two saved runs.

    Only queries and metrics present in both are compared. Labels are ``A:<encoder>`` and
    ``B:<encoder>``.

    Raises:
        SearchError: A file is unreadable, has no per-query block, or they share no query.
    """
    pa, pb = Path(path_a), Path(path_b)
    da, db = _read(pa), _read(pb)
    name_a, qa = _pick(da, pa, encoder_a)
    name_b, qb = _pick(db, pb, encoder_b)
    shared = sorted(set(qa) & set(qb))
    if not shared:
        raise SearchError(f"{pa} and {pb} have no query in common")
    metrics = [m for m in da.get("metrics", []) if m in db.get("metrics", [])]
    if not metrics:
        raise SearchError(f"{pa} and {pb} have no metric in common")

    def result(label: str, per_query: dict[str, dict[str, float]]) -> EncoderResult:
        """One side, restricted to the shared queries and metrics."""
        kept = {q: {m: float(per_query[q][m]) for m in metrics} for q in shared}
        means = {m: sum(v[m] for v in kept.values()) / len(kept) for m in metrics}
        return EncoderResult(encoder=label, per_query=kept, means=means)

    out = DatasetResult(
        dataset=f"{da.get('dataset', pa.stem)} vs {db.get('dataset', pb.stem)}",
        split=str(da.get("split", "")),
        metrics=metrics,
        n_docs=int(da.get("n_docs", 0)),
        n_queries=len(shared),
        encoders=[result(f"A:{name_a}", qa), result(f"B:{name_b}", qb)],
        settings={"a": str(pa), "b": str(pb), "a_settings": da.get("settings", {}),
                  "b_settings": db.get("settings", {}), "resamples": resamples},
    )  # fmt: skip
    out.compare(resamples=resamples, seed=seed)
    return out
