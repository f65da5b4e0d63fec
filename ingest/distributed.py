"""Parsing and embedding on a Ray cluster: a :class:`RayEmbedder` and a :class:`RayParser`.

Both plug into the pipeline's seams (``ingest.embed.Embedder``, ``ingest.workers.Parser``);
the driver keeps everything that makes a run incremental and kill-safe: the plan, chunking
(with the encoders' tokenizers only, no weights), the manifest and the write order. The
cluster does the two expensive, stateless parts:

* **Embedding**: one encoder replica (a Ray actor holding every encoder of the run, built from
  the picklable :class:`~encoders.EncoderSpec` s) per GPU, or per ``cpus_per_replica`` CPUs
  on a cluster without GPUs. Each replica gets at most ``DEPTH`` calls at a time, so the next
  call is queued there while one runs and the driver pulls new work only as replicas free up;
  results come back in completion order, tagged with the replica (per-replica throughput).
* **Parsing**: a few parse actors (hash, then parse unless unchanged), a bounded window of
  files in flight. The files must be readable at the same path on every node (a shared
  filesystem); a file that is not is reported as failed, never skipped silently.

Failures never leave a silent gap: a replica whose process dies is restarted by Ray and its
calls are retried (``RESTARTS`` times), after that the run stops with one line (an
:class:`~ingest.errors.IngestError`) and the next run redoes every document not written in
full; a file whose parser kills its process is retried, then reported as that file's failure.

``ray`` is an optional extra (``pip install 'diffsearch[ray]'``): this module imports it only
when a cluster is used.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ingest.embed import AnyCall, Embedded, LocalEmbedder, run_call
from ingest.errors import IngestError
from ingest.workers import ParseItem, ParseOutcome

#: Calls queued on one replica at a time (one running, one waiting: no idle gap between calls).
DEPTH = 2
#: How often Ray restarts a dead replica (and retries its calls) before the run stops.
RESTARTS = 2
#: Parse actors ask for no CPU: parsing is light next to encoding, and must never wait behind
#: replicas that hold every CPU of a small cluster; their number bounds them instead.
PARSE_CPUS = 0.0
#: Files in flight per parse actor (bounds the parsed documents held).
PARSE_WINDOW = 8
#: ``--ray local``: at most this many CPUs for the in-process cluster.
LOCAL_CPUS = 2
#: The environment every worker gets: offline by construction, as in this process.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise IngestError(
            "--ray needs Ray: pip install 'diffsearch[ray]' (or leave --ray out)"
        ) from None
    return ray


# -- connecting ---------------------------------------------------------------------------------


def _reachable(address: str, timeout: float = 5.0) -> bool:
    """Whether something listens at ``[ray://]host:port`` (Ray itself waits minutes)."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return True  # not host:port: let Ray say what it makes of it
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def ray_session(address: str, local_cpus: int | None = None) -> Iterator[Any]:
    """Connect to a Ray cluster for the duration of a command; yield the ``ray`` module.

    Args:
        address: ``local`` (start a cluster in this process, at most ``LOCAL_CPUS`` CPUs),
            ``auto`` (the cluster this machine belongs to: ``RAY_ADDRESS`` or the one started
            by ``ray start``), or a head node's ``HOST:PORT`` / ``ray://HOST:PORT``.
        local_cpus: CPUs for ``local`` (default: this machine's, at most ``LOCAL_CPUS``).

    Raises:
        IngestError: Ray is not installed or no cluster answered (one line).
    """
    ray = _ray()
    if ray.is_initialized():  # already connected (a caller that manages Ray itself)
        yield ray
        return
    common: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": "ERROR",
        "log_to_driver": False,
        "configure_logging": True,
    }
    try:
        if address == "local":
            cpus = local_cpus or min(LOCAL_CPUS, os.cpu_count() or 1)
            for key, value in OFFLINE_ENV.items():  # the local workers inherit this process's
                os.environ.setdefault(key, value)
            ray.init(num_cpus=cpus, object_store_memory=256 * 2**20, **common)
        else:
            if address != "auto" and not _reachable(address):
                raise ConnectionError(f"nothing listens at {address}")
            ray.init(address=address, runtime_env={"env_vars": dict(OFFLINE_ENV)}, **common)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise IngestError(
            f"cannot reach a Ray cluster at {address!r}: {first} (start one with `ray start "
            "--head`, give its address, or use --ray local)"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


# -- the encoder replicas ------------------------------------------------------------------------


class EncoderReplica:
    """A Ray actor: the run's encoders, built from their specs in the actor's process.

    Args:
        specs: ``EncoderSpec`` per encoder name.
        threads: torch threads (the CPUs Ray gave the replica; None on a GPU).
    """

    def __init__(self, specs: Mapping[str, Any], threads: int | None) -> None:
        for key, value in OFFLINE_ENV.items():
            os.environ.setdefault(key, value)
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.local = LocalEmbedder(specs)

    def where(self) -> tuple[str, int]:
        """(host name, process id)."""
        return socket.gethostname(), os.getpid()

    def info(self, name: str) -> dict[str, Any]:
        return self.local.info(name)

    def embed(self, call: AnyCall) -> tuple[np.ndarray, float]:
        """(vectors (call_rows(call), dim) float32, seconds in the encoder).

        The call is answered by :func:`ingest.embed.run_call`, the one mapping of a call to
        ``encode_documents`` (chunks) or ``encode_spans`` (late chunking).
        """
        t = time.perf_counter()
        vectors = run_call(self.local.encoder(call.encoder), call)
        return vectors, time.perf_counter() - t


def _failure(ray: Any, exc: BaseException, what: str) -> IngestError:
    """One line for a failed remote call (the cause's own message for a user error)."""
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause
        if isinstance(cause, IngestError):
            return cause
        return IngestError(f"{what} failed: {type(cause).__name__}: {cause}"[:500])
    return IngestError(
        f"{what} died and could not be restarted ({type(exc).__name__}); the documents not "
        "written yet are redone by the next run"
    )


class RayEmbedder:
    """The :class:`~ingest.embed.Embedder` on a Ray cluster (see the module docstring).

    Args:
        specs: ``EncoderSpec`` per encoder name (every encoder must have one: a replica
            builds it from there).
        cpus_per_replica: CPUs per replica on a cluster without GPUs (default: 2).
        replicas: How many (default: one per GPU, else CPUs // cpus_per_replica, at least 1).
    """

    def __init__(
        self, specs: Mapping[str, Any], *, cpus_per_replica: float | None = None,
        replicas: int | None = None,
    ) -> None:  # fmt: skip
        missing = [name for name, spec in specs.items() if spec is None]
        if missing:
            raise IngestError(
                f"--ray needs encoders given by name or spec, not loaded objects: {missing}"
            )
        self.specs = dict(specs)
        self.ray = _ray()
        self.cpus_per_replica = cpus_per_replica
        self.n_replicas = replicas
        self.actors: list[Any] = []
        self.names: list[str] = []
        self._infos: dict[str, dict[str, Any]] = {}

    def _layout(self) -> tuple[int, dict[str, Any], int | None]:
        """(replicas, actor resource options, torch threads per replica)."""
        res = self.ray.cluster_resources()
        gpus = int(res.get("GPU", 0))
        if gpus and self.cpus_per_replica is None:
            return self.n_replicas or gpus, {"num_gpus": 1, "num_cpus": 1}, None
        per = self.cpus_per_replica or min(2.0, float(res.get("CPU", 1)))
        n = self.n_replicas or max(1, int(float(res.get("CPU", 1)) // per))
        return n, {"num_cpus": per}, max(1, int(per))

    def _pool(self) -> list[Any]:
        if not self.actors:
            n, options, threads = self._layout()
            cls = self.ray.remote(max_restarts=RESTARTS, max_task_retries=RESTARTS, **options)(
                EncoderReplica
            )
            self.actors = [cls.remote(self.specs, threads) for _ in range(n)]
            try:
                where = self.ray.get([a.where.remote() for a in self.actors])
            except self.ray.exceptions.RayError as exc:
                raise _failure(self.ray, exc, "starting the encoder replicas") from None
            self.names = [f"replica-{i}@{host}" for i, (host, _) in enumerate(where)]
        return self.actors

    def pids(self) -> list[int]:
        """The replicas' process ids (tests kill one to check the retry)."""
        return [pid for _, pid in self.ray.get([a.where.remote() for a in self._pool()])]

    def info(self, name: str) -> dict[str, Any]:
        if name not in self._infos:
            if name not in self.specs:
                raise IngestError(f"no spec for encoder {name!r}")
            actors = self._pool()
            # Every replica builds the encoder now, in parallel (the run needs them all).
            refs = [a.info.remote(name) for a in actors]
            try:
                self._infos[name] = self.ray.get(refs)[0]
            except self.ray.exceptions.RayError as exc:
                raise _failure(self.ray, exc, f"loading encoder {name!r} on the cluster") from None
        return self._infos[name]

    def token_spans(self, name: str) -> Callable[[str], list[tuple[int, int]]]:
        from encoders import EncoderError, load_token_offsets

        try:
            return load_token_offsets(self.specs[name])
        except EncoderError as exc:
            raise IngestError(f"cannot load the tokenizer of {name!r}: {exc}") from None

    def embed(self, calls: Iterable[AnyCall]) -> Iterator[Embedded]:
        ray, actors = self.ray, self._pool()
        todo = iter(calls)
        running: dict[Any, tuple[AnyCall, int]] = {}
        load = [0] * len(actors)
        more = True
        while True:
            while more and len(running) < DEPTH * len(actors):
                call = next(todo, None)
                if call is None:
                    more = False
                    break
                i = min(range(len(actors)), key=load.__getitem__)
                running[actors[i].embed.remote(call)] = (call, i)
                load[i] += 1
            if not running:
                return
            (ref,), _ = ray.wait(list(running), num_returns=1)
            call, i = running.pop(ref)
            load[i] -= 1
            try:
                vectors, seconds = ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise _failure(ray, exc, f"encoder {self.names[i]}") from None
            yield Embedded(call.key, call.encoder, np.array(vectors), seconds, self.names[i])

    def close(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self.actors = []


def ray_embedder(
    cpus_per_replica: float | None = None, replicas: int | None = None
) -> Callable[[Mapping[str, Any], Mapping[str, Any]], RayEmbedder]:
    """An ``EmbedderFactory`` for ``ingest_folder(embedder=...)`` (connect first)."""

    def factory(specs: Mapping[str, Any], loaded: Mapping[str, Any]) -> RayEmbedder:
        return RayEmbedder(specs, cpus_per_replica=cpus_per_replica, replicas=replicas)

    return factory


# -- parsing -----------------------------------------------------------------------------------


class ParseWorker:
    """A Ray actor that parses files (its imports stay warm: ``unstructured`` costs seconds)."""

    def __init__(self) -> None:
        for key, value in OFFLINE_ENV.items():
            os.environ.setdefault(key, value)
        from ingest.offline import ensure_offline

        with contextlib.suppress(Exception):
            ensure_offline()

    def parse(self, path: str, relpath: str, old_sha: str | None) -> ParseOutcome:
        from ingest.workers import parse_job

        return parse_job(path, relpath, old_sha)


class RayParser:
    """The :class:`~ingest.workers.Parser` on a Ray cluster: a few parse actors, files spread
    over them, ``PARSE_WINDOW`` files in flight per actor.

    A file whose parser kills its process is retried (``RESTARTS`` times, the actor restarted
    each time), then reported as that file's failure; the other files go on.

    Args:
        workers: Parse actors (default: the cluster's CPUs - 1, at least 1, at most 16).
    """

    def __init__(self, workers: int | None = None) -> None:
        self.ray = _ray()
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.size = workers or max(1, min(16, cpus - 1))
        self._cls = self.ray.remote(num_cpus=PARSE_CPUS, max_restarts=-1,
                                    max_task_retries=RESTARTS)(ParseWorker)  # fmt: skip
        self.actors: list[Any] = []

    def outcomes(self, items: Sequence[ParseItem[Any]]) -> Iterator[tuple[Any, ParseOutcome]]:
        """Submit the first files now; yield ``(key, outcome)`` in completion order."""
        if not self.actors:
            self.actors = [self._cls.remote() for _ in range(self.size)]
        todo = list(reversed(items))
        running: dict[Any, tuple[Any, int]] = {}
        load = [0] * len(self.actors)

        def fill() -> None:
            while todo and len(running) < PARSE_WINDOW * len(self.actors):
                key, path, rel, sha = todo.pop()
                i = min(range(len(self.actors)), key=load.__getitem__)
                running[self.actors[i].parse.remote(path, rel, sha)] = (key, i)
                load[i] += 1

        fill()
        return self._drain(running, load, fill)

    def _drain(
        self, running: dict[Any, tuple[Any, int]], load: list[int], fill: Callable[[], None]
    ) -> Iterator[tuple[Any, ParseOutcome]]:
        ray = self.ray
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            key, i = running.pop(ref)
            load[i] -= 1
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:
                reason = "the parser crashed on this file"  # every retry killed the actor
                if isinstance(exc, ray.exceptions.RayTaskError):
                    reason = f"{type(exc.cause).__name__}: {exc.cause}"[:200]
                outcome = ParseOutcome("failed", reason, "", 0.0)
            fill()
            yield key, outcome
        self.close()  # nothing left to parse: free the CPUs for the replicas

    def close(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self.actors = []
