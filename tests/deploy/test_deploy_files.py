"""What can be checked of deploy/ on a machine without a container engine (docker here is only a client).

HAProxy checks its own configuration; the compose file parses and its parts agree with each other, with the
Dockerfile, with the README's configuration table and with the repository (every file the image copies exists).
Building and running the images is left to a machine with an engine; tests/deploy/test_replicas.py runs the
same HAProxy configuration in front of real `mcphub serve` processes.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from .balancer import HAPROXY, ROOT

DEPLOY = ROOT / "deploy"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def hub_services(spec: dict[str, Any]) -> dict[str, Any]:
    return {name: service for name, service in spec["services"].items() if name.startswith("hub")}


def readme_variables() -> set[str]:
    """The variables of the README's Configuration table (its first column)."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(MCPHUB_[A-Z0-9_]+)`", table, flags=re.MULTILINE))


def test_haproxy_accepts_its_configuration() -> None:
    checked = subprocess.run([HAPROXY, "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration file is valid" in checked.stdout + checked.stderr


def test_haproxy_balances_round_robin_over_the_compose_hubs_without_affinity() -> None:
    config = (DEPLOY / "haproxy.cfg").read_text()
    active = [line.split("#", 1)[0].strip() for line in config.splitlines()]
    assert "balance roundrobin" in active
    assert not [line for line in config.splitlines() if "stick" in line], "no session affinity, not even commented out"
    servers = dict(re.findall(r"^server (\S+) (\S+)$", "\n".join(active), flags=re.MULTILINE))
    assert {f"{name}:8765" for name in hub_services(compose())} == set(servers.values())
    assert "option httpchk GET /healthz" in active


def test_compose_runs_three_hubs_on_postgresql_and_redis_behind_haproxy() -> None:
    spec = compose()
    services = spec["services"]
    assert {"postgres", "redis", "haproxy"} <= set(services)
    hubs = hub_services(spec)
    assert len(hubs) == 3
    for name, hub in hubs.items():
        assert hub["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
        environment = hub["environment"]
        assert environment["MCPHUB_DATABASE_URL"].startswith("postgresql+asyncpg://"), name
        assert "@postgres:5432/" in environment["MCPHUB_DATABASE_URL"], name
        assert environment["MCPHUB_REDIS_URL"].startswith("redis://redis:"), name
        assert "MCPHUB_SECRET_KEY" in environment, f"{name}: replicas must share the vault key"
        assert hub["depends_on"]["postgres"]["condition"] == "service_healthy", name
    volumes = [hub["volumes"][0].split(":")[0] for hub in hubs.values()]
    assert len(set(volumes)) == 3, "each replica keeps its own data dir (its usage spool)"
    assert services["haproxy"]["volumes"] == ["./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]


def test_compose_names_only_variables_the_readme_documents() -> None:
    documented = readme_variables()
    assert "MCPHUB_DATABASE_URL" in documented  # the table was found
    named = {var for hub in hub_services(compose()).values() for var in hub["environment"]}
    assert named <= documented, f"undocumented in README's Configuration table: {sorted(named - documented)}"
    scaling = (ROOT / "README.md").read_text().split("## Scaling out", 1)[1].split("\n## ", 1)[0]
    assert "deploy/" in scaling


def test_dockerfile_is_multi_stage_non_root_with_the_catalog_and_a_healthcheck() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    instructions = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")]
    assert sum(line.startswith("FROM ") for line in instructions) >= 2
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    assert any(line.startswith("COPY generated ") for line in instructions), "the compiled catalog is baked in"
    assert "uv sync --frozen --no-dev" in dockerfile
    healthcheck = dockerfile.split("HEALTHCHECK", 1)[1].split("\nCMD", 1)[0]
    assert "/healthz" in healthcheck
    assert "--catalog" in instructions[-1] and instructions[-1].startswith("CMD ")


def test_every_file_the_image_copies_is_in_the_repository_and_not_ignored() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    sources = [
        part
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for part in line.split()[1:-1]
    ]
    assert sources
    kept = {line[1:] for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if line.startswith("!")}
    for source in sources:
        assert (ROOT / source).exists(), f"deploy/Dockerfile copies {source}, which the repository does not have"
        assert source in kept, f"deploy/Dockerfile.dockerignore leaves out {source}, which the image copies"
