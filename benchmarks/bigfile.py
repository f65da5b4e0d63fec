"""One very large file against the same text in many small files (``ingest.py --big-file``).

Builds a plain-text file of ``--mb`` MB (default 30) from the shared QMSum meeting transcripts,
repeated (the shape of "a long book several times over"), and the same text cut into
``--parts`` files (default 300) at line ends. Each case is a fresh process ingesting its folder
into a fresh embedded store with ``--encoder`` (``tokens`` chunking, 256 / 32); the two cases
alternate for ``--repeat`` rounds. ``--encoder minilm`` (all-MiniLM-L6-v2, the default) is the
embedding-bound case a user meets; ``--encoder bm25`` (the project's BM25 retriever: words
counted and stemmed, no neural cost) leaves the parse / chunk / stream / write path as the
dominant cost, so a big-file penalty in that path shows up undiluted and the full 30 MB runs in
minutes. Reported per case: wall seconds, chunks, chunks/s and
the peak resident memory of the whole process tree (the ingest and its parse workers, sampled
every 0.1 s with psutil). Targets (issue 15): peak under 2 GB for the big file, and its
chunks/s within 20% of the small files'.

    python benchmarks/ingest.py --big-file                 # 30 MB vs 300 files, 2 rounds
    python benchmarks/ingest.py --big-file --encoder bm25 --repeat 3   # the pipeline itself
    python benchmarks/ingest.py --big-file --mb 3 --repeat 1
    python benchmarks/ingest.py --big-file --only big --time-limit 900   # peak RSS of 30 MB, partial
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DIFFSEARCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
SOURCE = DATA / "longembed_qmsum" / "corpus.jsonl"


def make_folders(tmp: Path, mb: float, parts: int) -> tuple[Path, Path]:
    """``tmp/big/book.txt`` of ``mb`` MB and ``tmp/small/part-NNN.txt``: the same text."""
    texts = [json.loads(line)["text"] for line in SOURCE.read_text(encoding="utf-8").splitlines()]
    body = "\n\n".join(texts)
    want = int(mb * 1_000_000)
    text = "\n\n".join([body] * (want // len(body) + 1))[:want]
    text = text[: text.rfind("\n") + 1]
    big, small = tmp / "big", tmp / "small"
    big.mkdir()
    small.mkdir()
    (big / "book.txt").write_text(text, encoding="utf-8")
    step, start = len(text) // parts, 0
    for i in range(parts):
        end = len(text) if i == parts - 1 else text.rfind("\n", start, start + step) + 1
        (small / f"part-{i:03d}.txt").write_text(text[start:end], encoding="utf-8")
        start = end
    return big, small


def child(root: str, store: str, encoder: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from ingest.pipeline import ingest_folder
    from search.store import open_store

    t0 = time.perf_counter()
    with open_store(path=store) as s:
        r = ingest_folder(root, index="bench", encoders=[encoder], store=s, chunking="tokens",
                          chunk_tokens=256, overlap=32, bars=False)  # fmt: skip
        seconds = time.perf_counter() - t0
        points = s.chunk_count("bench", encoder)
    return {"seconds": seconds, "chunks": points, "files": r.new, "failed": r.failed,
            "timings": {k: round(v, 1) for k, v in r.timings.items()}}  # fmt: skip


def measured(root: Path, store: Path, encoder: str, limit: float | None = None) -> dict:
    """Run :func:`child` in a fresh process; its figures plus the tree's peak RSS.

    With ``limit`` (seconds), a run still going then is stopped (SIGTERM, as a user would) and
    reported as partial: the chunks in the store by then, over the seconds it ran.
    """
    import psutil

    cmd = [sys.executable, __file__, "--child", str(root), "--store", str(store),
           "--encoder", encoder]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak, top, stopped = 0, psutil.Process(proc.pid), False
    while proc.poll() is None:
        try:
            tree = [top, *top.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        if limit is not None and not stopped and time.perf_counter() - t0 > limit:
            proc.terminate()
            stopped = True
        time.sleep(0.1)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if stopped:
        sys.path.insert(0, str(ROOT))
        from search.store import open_store

        with open_store(path=store) as s:
            chunks = s.chunk_count("bench", encoder) if s.index_record("bench") else 0
        result = {"seconds": seconds, "chunks": chunks, "partial": True, "timings": {}}
    elif proc.returncode != 0:
        raise SystemExit(f"ingest of {root} failed:\n{err[-3000:]}")
    else:
        result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak / 2**20
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--big-file", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--mb", type=float, default=30.0, help="size of the big file in MB (default 30)"
    )
    ap.add_argument(
        "--parts", type=int, default=300, help="small files with the same text (default 300)"
    )
    ap.add_argument("--repeat", type=int, default=2, help="rounds of both cases (default 2)")
    ap.add_argument("--encoder", default="minilm",
                    help="encoder to ingest with (default minilm; bm25: no neural cost)")  # fmt: skip
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--only", choices=("big", "small"), help="run one case only")
    ap.add_argument("--time-limit", type=float, metavar="S",
                    help="stop a run after S seconds and report it as partial (chunks stored by then)")  # fmt: skip
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.store, args.encoder)))
        return 0
    if not SOURCE.is_file():
        print(f"no {SOURCE} (set DIFFSEARCH_SHARED_DATA)", file=sys.stderr)
        return 2
    runs: dict[str, list[dict]] = {"big": [], "small": []}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        big, small = make_folders(Path(tmp), args.mb, args.parts)
        for r in range(args.repeat):
            for name, root in (("big", big), ("small", small)):
                if args.only and name != args.only:
                    continue
                got = measured(root, Path(tmp) / f"store-{name}-{r}", args.encoder, args.time_limit)
                runs[name].append(got)
                loads.append(os.getloadavg()[0])
                tag = " (stopped: partial)" if got.get("partial") else ""
                print(f"round {r + 1} {name:5}{tag}: {got['seconds']:7.1f} s {got['chunks']:6} chunks "
                      f"{got['chunks'] / got['seconds']:6.1f} chunks/s peak {got['peak_rss_mb']:6.0f} MB "
                      f"{json.dumps(got['timings'])}", flush=True)  # fmt: skip
    if args.only:
        if args.json:
            Path(args.json).write_text(json.dumps({"runs": runs, "load": loads}, indent=2))
        return 0
    med = {n: {"chunks_per_s": statistics.median(g["chunks"] / g["seconds"] for g in rs),
               "peak_rss_mb": statistics.median(g["peak_rss_mb"] for g in rs),
               "max_peak_rss_mb": max(g["peak_rss_mb"] for g in rs)} for n, rs in runs.items()}  # fmt: skip
    ratio = med["big"]["chunks_per_s"] / med["small"]["chunks_per_s"]
    print(f"\n{args.mb:g} MB in one file vs {args.parts} files, {args.encoder} on CPU "
          f"({os.cpu_count()} cores), load average {min(loads):.1f}-{max(loads):.1f}; medians of {args.repeat}:")  # fmt: skip
    for n, label in (("big", "one file"), ("small", f"{args.parts} files")):
        m = med[n]
        print(f"  {label:10} {m['chunks_per_s']:7.1f} chunks/s  peak RSS (process tree) "
              f"{m['peak_rss_mb']:6.0f} MB (max {m['max_peak_rss_mb']:.0f})")  # fmt: skip
    print(
        f"  throughput ratio one file / small files: {ratio:.2f} (target >= 0.80); "
        f"peak RSS target < 2048 MB: {'met' if med['big']['max_peak_rss_mb'] < 2048 else 'NOT met'}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "medians": med, "ratio": ratio,
                                               "load": loads}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
