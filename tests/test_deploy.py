"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

No engine runs on the machines this suite runs on, so these tests check what can be checked
from here: the compose file's wiring (pinned server, named volume, healthcheck, the UI pointed
at the server), the UI command against diffsearch's own argument parser, the healthcheck's
shell probe against real HTTP servers on loopback, and the image build's install step.
"""

from __future__ import annotations

import http.server
import re
import subprocess
import threading
from collections.abc import Iterator
from importlib.metadata import distribution, version
from pathlib import Path
from typing import Any

import pytest
import yaml

from ui.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _mount_target(volume: str) -> str:
    """``SRC:DST[:MODE]`` -> DST (SRC may hold ``${VAR:-default}``)."""
    parts = volume.rsplit(":", 2) if volume.endswith((":ro", ":rw")) else volume.rsplit(":", 1)
    return parts[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_qdrant_server_is_pinned_and_speaks_to_our_client(compose: dict[str, Any]) -> None:
    qdrant = compose["services"]["qdrant"]
    m = re.fullmatch(r"qdrant/qdrant:v(\d+)\.(\d+)\.(\d+)", qdrant["image"])
    assert m, f"image not pinned to an exact release: {qdrant['image']}"
    server = (int(m[1]), int(m[2]))
    major, minor = (int(x) for x in version("qdrant-client").split(".")[:2])
    # qdrant-client supports servers of the same major version within one minor version.
    assert server[0] == major and abs(server[1] - minor) <= 1, (server, version("qdrant-client"))
    assert all(p.startswith("127.0.0.1:") for p in qdrant["ports"]), "server open to the network"
    assert qdrant["environment"]["QDRANT__TELEMETRY_DISABLED"] == "true"


def test_storage_is_a_named_volume(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["qdrant"]["volumes"]
    name = next(v.split(":")[0] for v in volumes if _mount_target(v) == "/qdrant/storage")
    assert name in compose["volumes"], "storage must be a named volume, not a host folder"


def test_ui_waits_for_a_healthy_server_and_uses_it(compose: dict[str, Any]) -> None:
    ui = compose["services"]["ui"]
    assert ui["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert "healthcheck" in compose["services"]["qdrant"]
    env = ui["environment"]
    port = compose["services"]["qdrant"]["ports"][0].rsplit(":", 1)[1]
    assert env["DIFFSEARCH_QDRANT_URL"] == f"http://qdrant:{port}"
    assert env["HF_HUB_OFFLINE"] == "1" and env["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert all(p.startswith("127.0.0.1:") for p in ui["ports"])


@pytest.mark.parametrize("service", ["ui", "ui-gpu"])
def test_ui_command_is_one_diffsearch_accepts(compose: dict[str, Any], service: str) -> None:
    ui = compose["services"][service]
    command = ui["command"]
    scripts = {
        e.name for e in distribution("diffsearch").entry_points if e.group == "console_scripts"
    }
    assert command[0] in scripts
    args = build_parser().parse_args(command[1:])  # exits (fails the test) on a bad flag
    assert args.command == "ui" and args.host == "0.0.0.0"
    assert str(args.port) in " ".join(ui["ports"])
    targets = [_mount_target(v) for v in ui["volumes"]]
    assert args.allow_dir and all(d in targets for d in args.allow_dir)  # folders it may index


def test_gpu_service_is_opt_in(compose: dict[str, Any]) -> None:
    gpu = compose["services"]["ui-gpu"]
    assert gpu["profiles"] == ["gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert gpu["environment"]["DIFFSEARCH_QDRANT_URL"] == "http://qdrant:6333"


class _Ready(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/readyz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok" if code == 200 else b"no")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    handler = type("Handler", (_Ready,), {"status": request.param})
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("server", "healthy"), [(200, True), (503, False)], indirect=["server"])
def test_healthcheck_probe_tells_ready_from_not(
    compose: dict[str, Any], server: int, healthy: bool
) -> None:
    """The image has no curl: the healthcheck is a bash /dev/tcp probe; run it for real."""
    test = compose["services"]["qdrant"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    script = test[3].replace("127.0.0.1/6333", f"127.0.0.1/{server}")
    assert script != test[3]
    rc = subprocess.run(["bash", "-c", script], timeout=10).returncode
    assert (rc == 0) is healthy


def test_healthcheck_probe_fails_with_no_server(compose: dict[str, Any]) -> None:
    script = compose["services"]["qdrant"]["healthcheck"]["test"][3]
    script = script.replace("127.0.0.1/6333", "127.0.0.1/9")  # discard port: nothing listens
    assert subprocess.run(["bash", "-c", script], timeout=10, stderr=subprocess.DEVNULL).returncode


def test_dockerfile_installs_every_package_with_the_pins() -> None:
    text = (ROOT / "Dockerfile").read_text()
    install = next(line for line in text.splitlines() if "pip install" in line)
    assert "-c constraints.txt" in install  # torch and everything else at the tested versions
    found = re.search(r"^include = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M)
    assert found, "pyproject.toml: [tool.setuptools.packages.find] include not found"
    for pattern in re.findall(r'"([^"]+)"', found[1]):
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY {package} {package}$", text, re.M), f"{package}/ not copied"
    assert re.search(r"^COPY .*constraints\.txt", text, re.M)
