"""The end-of-run table and the ratios against sentence-transformers (also in the JSON)."""

from __future__ import annotations

from typing import Any


def ratios(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (model, encoder, length): our default and best option against sentence-transformers.

    The ratio is texts/s over texts/s on the same texts (both sides read the same tokens).
    """
    out = []
    rows = data["encode"]
    keys = sorted({(r["model"], r["encoder"], r["length"]) for r in rows}, key=str)
    for model, encoder, length in keys:
        mine = [
            r for r in rows if (r["model"], r["encoder"], r["length"]) == (model, encoder, length)
        ]
        st = [r for r in mine if r["impl"] == "sentence-transformers"]
        ours = [r for r in mine if r["impl"] == "diffsearch" and r.get("unchanged", True)]
        default = [r for r in ours if r["option"].startswith("default")]
        if not st or not default:
            continue
        best = max(ours, key=lambda r: r["texts_per_s"])
        out.append({
            "model": model, "encoder": encoder, "length": length,
            "default_vs_st": round(default[0]["texts_per_s"] / st[0]["texts_per_s"], 3),
            "best_option": best["option"],
            "best_vs_st": round(best["texts_per_s"] / st[0]["texts_per_s"], 3),
        })  # fmt: skip
    return out


def summarise(data: dict[str, Any]) -> list[str]:
    """Print (and return) the table of every measurement, the ratios and the training step."""
    lines = [
        "",
        f"{'model':<11} {'encoder':<19} {'len':>5} {'implementation / option':<52} "
        f"{'tokens/s':>10} {'pad':>6} {'MFU':>6} {'peak GiB':>8} {'min cos':>8}",
    ]
    for r in data["encode"]:
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else "-"
        peak = r.get("peak_allocated_gib", r.get("process_peak_rss_gib", 0.0))
        cos = f"{r['min_cosine']:.5f}" if "min_cosine" in r else "ref"
        what = (r["impl"] + ": " + r["option"])[:52]
        lines.append(
            f"{r['model']:<11} {r['encoder']:<19} {r['length']:>5} {what:<52} "
            f"{r['tokens_per_s']:>10,.0f} {r['padded_fraction']:>6.1%} {mfu:>6} {peak:>8.2f} {cos:>8}"
        )
    found = ratios(data)
    if found:
        lines.append("")
    for q in found:
        lines.append(
            f"{q['model']} {q['encoder']} @{q['length']}: diffsearch / sentence-transformers "
            f"{q['default_vs_st']:.2f}x (default), {q['best_vs_st']:.2f}x ({q['best_option']})"
        )
    for t in data["train"]:
        mfu = f", MFU {t['mfu']:.1%}" if t.get("mfu") is not None else ""
        peak = t.get("peak_allocated_gib", t.get("process_peak_rss_gib", 0.0))
        lines.append(
            f"{t['model']} LoRA step ({t['queries']} queries, {t['documents']} documents of "
            f"{max(t['document_tokens'])} tokens): {t['tokens_per_s']:,.0f} tokens/s, "
            f"{t['median_step_s']:.2f} s/step, peak {peak:.2f} GiB{mfu}"
        )
    for s in data["skipped"]:
        lines.append(f"skipped: {s['what']} ({s['why']})")
    for e in data["errors"]:
        lines.append(f"error: {e['what']}: {e['error']}")
    print("\n".join(lines), flush=True)
    return lines
