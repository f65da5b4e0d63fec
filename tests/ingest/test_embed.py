"""The Embedder seam: through it equals direct encoder calls, in-process, in another process
built from the specs alone, and with results coming back out of order."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ingest.pipeline
from encoders import EncoderSpec, load_encoder
from ingest import IngestError, ingest_folder
from ingest.embed import EmbedCall, Embedded, Embedder, LocalEmbedder
from search.store import open_store

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"chunk_tokens": 64, "overlap": 8}
SPECS = {
    "minilm": EncoderSpec("minilm"),
    "minilm+causal": EncoderSpec("minilm", attention="causal"),
}


def _texts(n: int) -> list[str]:
    return [f"Sentence {i}: diffusion models {'and retrieval ' * (i % 7)}work." for i in range(n)]


def test_local_embedder_equals_direct_encoder_calls() -> None:
    embedder = LocalEmbedder(SPECS)
    assert isinstance(embedder, Embedder)
    texts = _texts(11)
    calls = [EmbedCall(("a", 0), "minilm", tuple(texts[:5])),
             EmbedCall(("b", 0), "minilm+causal", tuple(texts)),
             EmbedCall(("a", 5), "minilm", tuple(texts[5:]))]  # fmt: skip
    got = {d.key: d for d in embedder.embed(iter(calls))}
    assert list(got) == [c.key for c in calls]  # one result per call, in order here
    direct = {name: load_encoder(spec).encode_documents(texts) for name, spec in SPECS.items()}
    assert np.array_equal(
        np.concatenate([got[("a", 0)].vectors, got[("a", 5)].vectors]), direct["minilm"]
    )
    assert np.array_equal(got[("b", 0)].vectors, direct["minilm+causal"])
    assert all(d.worker == "local" and d.seconds >= 0 for d in got.values())
    assert embedder.info("minilm+causal")["attention"] == "causal"
    assert embedder.info("minilm")["spec"] == load_encoder("minilm").spec.recorded()


def test_the_embedder_pulls_calls_lazily() -> None:
    """Pulling one call at a time is what bounds memory: parsing waits for the embedder."""
    pulled: list[int] = []

    def calls() -> Iterator[EmbedCall]:
        for i in range(3):
            pulled.append(i)
            yield EmbedCall(i, "minilm", ("text",))

    results = LocalEmbedder(SPECS).embed(calls())
    next(results)
    assert pulled == [0]


# -- other embedders through the pipeline ------------------------------------------------------

_WORKER = """
import json, sys
from encoders import EncoderSpec
from ingest.embed import EmbedCall, LocalEmbedder
specs = {k: EncoderSpec.from_dict(v) for k, v in json.loads(sys.stdin.readline()).items()}
embedder = LocalEmbedder(specs)
for line in sys.stdin:
    msg = json.loads(line)
    if "info" in msg:
        print(json.dumps(embedder.info(msg["info"])), flush=True)
        continue
    call = EmbedCall(tuple(msg["key"]), msg["encoder"], tuple(msg["texts"]))
    done = next(embedder.embed([call]))
    print(json.dumps({"key": list(done.key), "vectors": done.vectors.tolist(), "s": done.seconds}), flush=True)
"""


class PipeEmbedder:
    """A replica in another process that knows only the specs (JSON), two calls in flight."""

    def __init__(self, specs: Mapping[str, Any], _loaded: Mapping[str, Any]) -> None:
        self.specs = dict(specs)
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        self._send({k: v.to_dict() for k, v in self.specs.items()})
        self.calls = 0

    def _send(self, msg: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        return json.loads(self.proc.stdout.readline())

    def info(self, name: str) -> dict[str, Any]:
        self._send({"info": name})
        info: dict[str, Any] = self._read()
        return info

    def token_spans(self, name: str) -> Any:
        return load_encoder(self.specs[name]).token_offsets

    def embed(self, calls: Iterable[EmbedCall]) -> Iterator[Embedded]:
        it, inflight = iter(calls), deque[EmbedCall]()

        def submit() -> None:
            call = next(it, None)
            if call is not None:
                self._send({"key": list(call.key), "encoder": call.encoder, "texts": call.texts})  # type: ignore[arg-type]
                inflight.append(call)

        submit()
        submit()
        while inflight:
            msg = self._read()
            call = inflight.popleft()
            self.calls += 1
            vectors = np.asarray(msg["vectors"], dtype=np.float32)
            yield Embedded(tuple(msg["key"]), call.encoder, vectors, msg["s"], worker="pipe-0")
            submit()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


class ReversedEmbedder(LocalEmbedder):
    """Real encoders, but every result comes back in the reverse order of the calls."""

    def embed(self, calls: Iterable[EmbedCall]) -> Iterator[Embedded]:
        yield from reversed(list(super().embed(calls)))


class LosingEmbedder(LocalEmbedder):
    """Drops the third call's result: a worker lost without an error."""

    def embed(self, calls: Iterable[EmbedCall]) -> Iterator[Embedded]:
        for i, done in enumerate(super().embed(calls)):
            if i != 2:
                yield done


@pytest.fixture(scope="module")
def folder_and_reference(tmp_path_factory):
    from ingest_helpers import snapshot, write_folder

    root = write_folder(tmp_path_factory.mktemp("embed") / "docs")
    with open_store(path=tmp_path_factory.mktemp("ref")) as store:
        ingest_folder(
            root, index="e", encoders=list(SPECS.values()), store=store, workers=0, **SMALL
        )
        return root, snapshot(store, "e")


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(ingest.pipeline, "BATCH_CHUNKS", 6)  # many batches, each of a few calls
    monkeypatch.setattr(ingest.pipeline, "EMBED_CALL_CHUNKS", 4)


def _run(tmp_path: Path, root: Path, factory: Any, **kw: Any) -> Any:
    from ingest_helpers import snapshot

    with open_store(path=tmp_path / "store") as store:
        report = ingest_folder(root, index="e", encoders=list(SPECS.values()), store=store,
                               workers=0, embedder=factory, **SMALL, **kw)  # fmt: skip
        return report, snapshot(store, "e"), store.manifest("e")


def test_an_embedder_in_another_process_writes_the_same_index(
    tmp_path, folder_and_reference, small_batches
):
    from ingest_helpers import assert_same_points

    root, reference = folder_and_reference
    made: list[PipeEmbedder] = []

    def factory(specs, loaded):
        made.append(PipeEmbedder(specs, loaded))
        return made[0]

    events: list[tuple[str, int, int]] = []
    report, snap, manifest = _run(tmp_path, root, factory, progress=lambda *e: events.append(e))
    assert_same_points(reference, snap, atol=1e-5)
    assert made[0].calls > 10 and made[0].proc.returncode == 0  # closed by the run
    embed = [(done, total) for stage, done, total in events if stage == "embed"]
    assert embed[-1] == (2 * report.chunks, 2 * report.chunks)
    assert all(m["state"] == "complete" for m in manifest.values())


def test_results_out_of_order_are_reassembled(tmp_path, folder_and_reference, small_batches):
    from ingest_helpers import assert_same_points

    root, reference = folder_and_reference
    _, in_order, _ = _run(tmp_path / "in-order", root, LocalEmbedder)
    _, reversed_, _ = _run(tmp_path / "reversed", root, ReversedEmbedder)
    assert_same_points(in_order, reversed_, atol=0)  # the same calls: the very same vectors
    assert_same_points(reference, reversed_, atol=1e-5)  # other batches: other padding only


def test_a_lost_result_stops_the_run_and_the_next_run_repairs_it(
    tmp_path, folder_and_reference, small_batches
):
    from ingest_helpers import assert_same_points

    root, reference = folder_and_reference
    with pytest.raises(IngestError, match="returned no vectors for 1 batch"):
        _run(tmp_path, root, LosingEmbedder)
    _, snap, _ = _run(tmp_path, root, None)
    assert_same_points(reference, snap, atol=1e-5)
