"""Screenshot the web UI comparing two encoders on examples/docs (the picture in the README).

Ingests examples/docs with minilm and minilm-causal into a temporary store, starts
``diffsearch ui`` on a free localhost port, runs a query in headless Chromium (Debian's package,
driven by Playwright; `make browser` installs it) and saves the page as a PNG.

    .venv/bin/python examples/screenshot.py [--out docs/images/compare.png] [--query "..."]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERY = "Why does bidirectional attention help long documents?"


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", DO_NOT_TRACK="1", GRADIO_ANALYTICS_ENABLED="False",
               TOKENIZERS_PARALLELISM="false", UNSTRUCTURED_DISABLE_NOTICE="1")  # fmt: skip
    env.pop("DIFFSEARCH_QDRANT_URL", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"diffsearch ui exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"diffsearch ui did not answer at {url}")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default=str(ROOT / "docs" / "images" / "compare.png"))
    ap.add_argument("--query", default=QUERY)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--dark", action="store_true", help="the browser asks for a dark colour scheme")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        print("Chromium not found: run `make browser` (Debian's chromium package)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    diffsearch = [sys.executable, "-m", "ui.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        store = f"{tmp}/store"
        subprocess.run([*diffsearch, "ingest", str(ROOT / "examples" / "docs"), "--index", "examples",
                        "-e", "minilm", "-e", "minilm-causal", "--store", store],
                       env=_env(), cwd=ROOT, check=True, capture_output=True)  # fmt: skip
        port = _free_port()
        proc = subprocess.Popen([*diffsearch, "ui", "--store", store, "--index", "examples", "--port", str(port)],
                                env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait(url, proc)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--no-first-run"])  # fmt: skip
                page = browser.new_page(
                    viewport={"width": args.width, "height": 900},
                    color_scheme="dark" if args.dark else "light",
                )
                page.goto(url)
                box = page.locator("#ds-query textarea, #ds-query input").first
                box.fill(args.query)
                box.press("Enter")
                page.locator("#ds-results .ds-hit").first.wait_for(timeout=60_000)
                page.wait_for_timeout(500)
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.out, full_page=True)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
