"""Hard-negative mining: rank the corpus for every query with an encoder, keep the near misses.

For each query the mining encoder ranks every unit (document or chunk) by cosine. Units of the
query's relevant documents are left out, then the first ``skip`` of the rest (the best-ranked
non-positives are often relevant documents nobody judged), and the next ``depth`` are the
query's hard-negative candidates. The same ranking picks, for a relevant document with several
chunks, the chunk that stands for it, and gives the dev queries' best candidates (the dev corpus
keeps them, see :mod:`train.dev`).

Results are cached in a JSON file keyed by the data's hash, the mining encoder's settings and
the mining settings, so a rerun (or a resumed run) does not mine again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from train.data import TrainingData
from train.recipe import Mining

CACHE_VERSION = 1
DEV_POOL = 20  # best units per dev query kept for the dev corpus
_EMBED_CALL = 512  # documents per encode call, so the progress bar moves


@dataclass
class Mined:
    """What mining found.

    Attributes:
        negatives: Query id -> hard-negative candidate units, best first.
        best_unit: Query id -> {relevant document: the unit that stands for it}.
        dev_pool: Dev query id -> its best-ranked units (relevant or not).
        miner: The mining encoder's ``info`` (name, model, attention, pooling, ...).
        key: Cache key.
        cached: True when read from the cache.
        seconds: Time spent mining (0 when cached).
    """

    negatives: dict[str, list[str]]
    best_unit: dict[str, dict[str, str]]
    dev_pool: dict[str, list[str]]
    miner: dict[str, Any]
    key: str
    cached: bool = False
    seconds: float = 0.0


def default_cache_dir() -> Path:
    """``$DIFFSEARCH_CACHE`` or ``$XDG_CACHE_HOME/diffsearch`` (``~/.cache/diffsearch``)."""
    base = os.environ.get("DIFFSEARCH_CACHE")
    if base:
        return Path(base).expanduser() / "negatives"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "diffsearch" / "negatives"


def cache_key(data: TrainingData, miner: dict[str, Any], instruction: str | None, m: Mining) -> str:
    """The hash that names a mining result: data, encoder settings, instruction, depth, skip."""
    blob = json.dumps(
        [CACHE_VERSION, data.fingerprint, miner, instruction, m.depth, m.skip], sort_keys=True
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def mine(
    data: TrainingData,
    encoder: Any,
    mining: Mining,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Mined:
    """Mine hard negatives for every query of ``data`` (cached).

    Args:
        data: The training data.
        encoder: The mining encoder (anything with ``encode_documents``/``encode_queries`` and
            ``info``); queries get its default instruction, as at inference.
        mining: Depth and skip.
        cache_dir: Where results are kept (default :func:`default_cache_dir`).
        progress: ``(stage, done, total)`` callback while embedding the corpus.
    """
    miner = dict(encoder.info.as_dict())
    instruction = encoder.query_instruction(None) if hasattr(encoder, "query_instruction") else None
    key = cache_key(data, miner, instruction, mining)
    folder = cache_dir or default_cache_dir()
    path = folder / f"{key}.json"
    if path.is_file():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return Mined(
                raw["negatives"], raw["best_unit"], raw["dev_pool"], raw["miner"], key, True
            )
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is mined again and rewritten
    t0 = time.perf_counter()
    mined = _mine(data, encoder, mining, progress)
    result = Mined(*mined, miner=miner, key=key, seconds=time.perf_counter() - t0)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    payload = {
        "key": key, "data": data.fingerprint, "miner": miner, "mining": mining.as_dict(),
        "negatives": result.negatives, "best_unit": result.best_unit, "dev_pool": result.dev_pool,
    }  # fmt: skip
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)
    return result


def _mine(
    data: TrainingData,
    encoder: Any,
    mining: Mining,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[dict[str, list[str]], dict[str, dict[str, str]], dict[str, list[str]]]:
    import numpy as np

    ids = list(data.units)
    position = {u: i for i, u in enumerate(ids)}
    texts = [data.units[u] for u in ids]
    parts = []
    for start in range(0, len(texts), _EMBED_CALL):
        parts.append(encoder.encode_documents(texts[start : start + _EMBED_CALL]))
        if progress:
            progress("mine", min(start + _EMBED_CALL, len(texts)), len(texts))
    docs = np.concatenate(parts)
    units_of = data.units_of()
    wanted = {**data.qrels, **data.dev_qrels}
    qids = list(wanted)
    queries = encoder.encode_queries([data.queries[q] for q in qids])
    negatives: dict[str, list[str]] = {}
    best_unit: dict[str, dict[str, str]] = {}
    dev_pool: dict[str, list[str]] = {}
    block = max(1, 20_000_000 // max(1, len(ids)))  # bounded memory for the score matrix
    for start in range(0, len(qids), block):
        scores = queries[start : start + block] @ docs.T
        for row, qid in enumerate(qids[start : start + block]):
            s = scores[row]
            relevant = wanted[qid]
            positive_units = {u for d in relevant for u in units_of.get(d, ())}
            take = min(len(ids), mining.skip + mining.depth + len(positive_units) + DEV_POOL)
            top = np.argpartition(-s, take - 1)[:take] if take < len(ids) else np.arange(len(ids))
            # Ties broken by unit order, so that a ranking never depends on the partition.
            ranked = [ids[i] for i in sorted(top.tolist(), key=lambda i: (-float(s[i]), i))]
            rest = [u for u in ranked if u not in positive_units]
            negatives[qid] = rest[mining.skip : mining.skip + mining.depth]
            best_unit[qid] = {
                d: max(units_of[d], key=lambda u: (float(s[position[u]]), -position[u]))
                for d in relevant
                if len(units_of.get(d, ())) > 1
            }
            if qid in data.dev_qrels:
                dev_pool[qid] = ranked[:DEV_POOL]
    return negatives, best_unit, dev_pool
