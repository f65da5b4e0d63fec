"""Helpers for the pipeline tests: a folder of real files, and comparing two indexes point by point."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "docs"

MD = """# Diffusion language models

Masked diffusion models generate text by unmasking tokens in any order. {extra}

## Attention

They attend to context on both sides of every token, which helps long documents.
"""
TXT = (
    "Plain notes about vector stores.\n\nQdrant keeps one collection per encoder in this project.\n"
)
HTML = "<html><head><title>Pooling</title></head><body><h1>Pooling</h1><p>Mean pooling averages token states; last-token pooling takes the final one.</p></body></html>"
EML = "From: a@example.org\nTo: b@example.org\nSubject: Ingest report\n\nThe nightly ingest added twelve documents.\n"
CSV = "name,role\nDream,diffusion embedder\nQwen,autoregressive baseline\n"
JSON = json.dumps(
    {"title": "Config", "encoders": ["minilm", "minilm-causal"], "note": "store settings"}
)


def write_folder(root: Path, extra: str = "") -> Path:
    """A small folder of real files in several formats (text ones written here, binary copied)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "notes").mkdir(exist_ok=True)
    (root / "diffusion.md").write_text(MD.format(extra=extra))
    (root / "notes" / "stores.txt").write_text(TXT)
    (root / "pooling.html").write_text(HTML)
    (root / "mail.eml").write_text(EML)
    (root / "table.csv").write_text(CSV)
    (root / "config.json").write_text(JSON)
    shutil.copy(EXAMPLES / "long-document-retrieval.pdf", root / "long.pdf")
    shutil.copy(EXAMPLES / "contrastive-training.docx", root / "notes" / "training.docx")
    return root


def snapshot(store, index: str) -> dict[str, dict[str, tuple[str, np.ndarray]]]:
    """Every point of every collection of ``index``: id -> (payload hash, vector)."""
    out: dict[str, dict[str, tuple[str, np.ndarray]]] = {}
    for name in store.engine.collections():
        if not name.startswith(f"ds__{index}__"):
            continue
        out[name] = {
            p.id: (
                hashlib.sha256(json.dumps(p.payload, sort_keys=True).encode()).hexdigest(),
                np.asarray(p.vector),
            )
            for p in store.engine.scroll(name, with_vectors=True)
        }
    return out


def assert_same_points(a, b, atol: float = 1e-4) -> None:
    """Same collections, point ids and payloads; vectors within ``atol``."""
    assert sorted(a) == sorted(b), "collections differ"
    for name in a:
        assert sorted(a[name]) == sorted(b[name]), f"point ids differ in {name}"
        for pid, (payload, vec) in a[name].items():
            assert b[name][pid][0] == payload, f"payload of {pid} differs in {name}"
            assert np.allclose(b[name][pid][1], vec, atol=atol, rtol=0), (
                f"vector of {pid} differs in {name}"
            )
