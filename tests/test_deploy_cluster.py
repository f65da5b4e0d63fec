"""docker-compose.cluster.yml (a 3-node Qdrant cluster) and the cluster options, without an engine.

No Docker engine or Qdrant server runs here, so, as in test_deploy.py, these check what can be
checked from here: every node runs the same pinned image with the same cluster settings, one
node starts the cluster and the others join it at its peer port, each node keeps its own named
volume, nothing but REST on loopback is published, the UI waits for every node and points at
one of them, the commands in the file and in the README parse with diffsearch's own argument
parser, and ``--shards/--replicas/--write-consistency`` reach qdrant-client's
``create_collection`` (or are refused in one line on an embedded store).
"""

from __future__ import annotations

import inspect
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from qdrant_client import QdrantClient

from search.engines.base import ClusterLayout
from ui.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
FILE = "docker-compose.cluster.yml"


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    return yaml.safe_load((ROOT / FILE).read_text())


def _nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in compose["services"].items() if v["image"].startswith("qdrant/")}


def _flag(command: list[str], flag: str) -> str | None:
    return command[command.index(flag) + 1] if flag in command else None


def test_three_nodes_with_one_image_and_the_same_cluster_settings(cluster: dict[str, Any]) -> None:
    nodes = _nodes(cluster)
    assert len(nodes) == 3
    single = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["qdrant"]
    assert {n["image"] for n in nodes.values()} == {single["image"]}  # the pinned, tested release
    envs = [n["environment"] for n in nodes.values()]
    assert all(e == envs[0] for e in envs)
    assert envs[0]["QDRANT__CLUSTER__ENABLED"] == "true"
    assert envs[0]["QDRANT__TELEMETRY_DISABLED"] == "true"
    assert all(n["healthcheck"] == nodes["qdrant-0"]["healthcheck"] for n in nodes.values())
    assert (
        nodes["qdrant-0"]["healthcheck"]["test"] == single["healthcheck"]["test"]
    )  # probe tested there


def test_one_node_starts_the_cluster_and_the_others_join_it(cluster: dict[str, Any]) -> None:
    nodes = _nodes(cluster)
    p2p = next(iter(nodes.values()))["environment"]["QDRANT__CLUSTER__P2P__PORT"]
    first = [name for name, n in nodes.items() if "--bootstrap" not in n["command"]]
    assert len(first) == 1
    for name, node in nodes.items():
        assert node["command"][0] == "./qdrant"
        assert _flag(node["command"], "--uri") == f"http://{name}:{p2p}"  # how peers reach it
        if name != first[0]:
            assert _flag(node["command"], "--bootstrap") == f"http://{first[0]}:{p2p}"
            assert node["depends_on"][first[0]]["condition"] == "service_healthy"


def test_each_node_has_its_own_volume_and_only_rest_on_loopback(cluster: dict[str, Any]) -> None:
    nodes = _nodes(cluster)
    volumes = [v for n in nodes.values() for v in n["volumes"]]
    assert all(v.endswith(":/qdrant/storage") for v in volumes)
    names = [v.split(":")[0] for v in volumes]
    assert len(set(names)) == 3 and set(names) <= set(cluster["volumes"])
    ports = [p for n in nodes.values() for p in n.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
    p2p = nodes["qdrant-0"]["environment"]["QDRANT__CLUSTER__P2P__PORT"]
    assert not any(p.endswith(f":{p2p}") for p in ports), "the peer port accepts writes"


def test_the_ui_waits_for_every_node_and_points_at_the_cluster(cluster: dict[str, Any]) -> None:
    nodes = _nodes(cluster)
    ui = cluster["services"]["ui"]
    assert set(ui["depends_on"]) == set(nodes)
    assert all(d["condition"] == "service_healthy" for d in ui["depends_on"].values())
    m = re.fullmatch(r"http://([\w-]+):(\d+)", ui["environment"]["DIFFSEARCH_QDRANT_URL"])
    assert m and m[1] in nodes
    assert any(p.endswith(f":{m[2]}") for p in nodes[m[1]]["ports"])
    args = build_parser().parse_args(ui["command"][1:])
    assert args.command == "ui" and args.host == "0.0.0.0" and str(args.port) in ui["ports"][0]


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## When one machine is not enough")
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else None]


def _commands(section: str) -> list[list[str]]:
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    lines = [ln.split("  #")[0].strip() for b in blocks for ln in b.splitlines()]
    return [shlex.split(ln) for ln in lines if ln and not ln.startswith("#")]


def test_readme_commands_match_the_files(cluster: dict[str, Any]) -> None:
    commands = _commands(_readme_section())
    compose = [c for c in commands if "compose" in c]
    assert compose, "the README section shows no docker compose command"
    services = set(cluster["services"])
    for c in compose:
        assert c[c.index("-f") + 1] == FILE
        assert set(c[c.index("up") + 1 :]) - {"-d"} <= services  # only services the file has
    ours = [c[c.index("diffsearch") :] for c in commands if "diffsearch" in c]
    assert any("--shards" in c for c in ours) and any("--ray" in c for c in ours)
    for c in ours:
        build_parser().parse_args(c[1:])  # exits (fails the test) on a flag we do not have
    urls = {
        w.split("=", 1)[1] for c in commands for w in c if w.startswith("DIFFSEARCH_QDRANT_URL=")
    }
    published = {
        p.split(":", 1)[1].split(":")[0]
        for n in _nodes(cluster).values()
        for p in n.get("ports", [])
    }
    assert urls and all(re.fullmatch(r"http://localhost:(\d+)", u)[1] in published for u in urls)  # type: ignore[index]


def test_layout_becomes_create_collection_arguments() -> None:
    layout = ClusterLayout(shards=3, replicas=2, write_consistency=2)
    assert layout.problem() is None
    assert layout.create_params() == {
        "shard_number": 3,
        "replication_factor": 2,
        "write_consistency_factor": 2,
    }
    assert ClusterLayout(shards=6).create_params() == {"shard_number": 6}  # the rest: server's
    assert ClusterLayout().is_default() and ClusterLayout().create_params() == {}
    assert "needs at least as many --replicas" in str(ClusterLayout(write_consistency=2).problem())
    assert "at least 1" in str(ClusterLayout(shards=0).problem())
    # the names are create_collection's own (a renamed keyword would fail here, not on a server)
    params = inspect.signature(QdrantClient.create_collection).parameters
    assert set(layout.create_params()) <= set(params)


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--shards", "3"], "lay out collections on a Qdrant server (--qdrant-url)"),
     (["--qdrant-url", "http://127.0.0.1:1", "--write-consistency", "2"], "needs at least as many --replicas")],
)  # fmt: skip
def test_cluster_flags_are_refused_in_one_line_where_they_cannot_work(
    tmp_path, capsys, flags: list[str], message: str
) -> None:
    store = [] if "--qdrant-url" in flags else ["--store", str(tmp_path / "s")]
    argv = [
        "ingest",
        str(ROOT / "examples" / "docs"),
        "--index",
        "k",
        "-e",
        "minilm",
        *store,
        *flags,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "s").exists()  # refused before the store was opened
