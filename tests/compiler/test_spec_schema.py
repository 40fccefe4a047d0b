"""The spec format's JSON Schema: committed, fresh, and agreeing with the models on real and broken specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mcphub.compiler.errors import SpecError
from mcphub.compiler.spec import parse_spec
from mcphub.compiler.spec_schema import SCHEMA_FILE, main, render

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(), (
        f"{SCHEMA_FILE.relative_to(ROOT)} is stale (the spec models changed): run "
        "`.venv/bin/python -m mcphub.compiler.spec_schema --write` and commit it"
    )
    assert main(["--check"]) == 0


@pytest.mark.parametrize("spec", SPECS, ids=[spec.stem for spec in SPECS])
def test_every_spec_of_the_repository_validates(validator: jsonschema.Draft202012Validator, spec: Path) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(spec.read_text()))]
    assert not errors, errors


GOOD = """\
slug: shelter
name: Animal Shelter
source: {kind: openapi, path: shelter.yaml}
base_url: https://api.example.com/v1
auth: [{type: api_key, in: header, name: X-Api-Key}]
tools:
  - listPets
  - {operation: getPet, name: get_pet, description: Get one pet., defaults: {verbose: false}}
policy: {allowed_hosts: [api.example.com], allowed_methods: [GET, post], rate_limit: 60/min, timeout_s: 10}
"""


def _variant(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(GOOD)
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    return data


BROKEN = {
    "unknown key": _variant(sluggish="x"),
    "slug pattern": _variant(slug="Shelter!"),
    "reserved slug": _variant(slug="search"),
    "source kind": _variant(source={"kind": "swagger", "path": "x.yaml"}),
    "tool name": _variant(tools=[{"operation": "getPet", "name": "get pet"}]),
    "auth type": _variant(auth=[{"type": "apikey", "in": "header", "name": "X"}]),
    "api key without name": _variant(auth=[{"type": "api_key", "in": "header"}]),
    "rate limit": _variant(policy={"rate_limit": "lots"}),
    "method": _variant(policy={"allowed_methods": ["FETCH"]}),
    "host is a URL": _variant(policy={"allowed_hosts": ["https://api.example.com/"]}),
    "timeout too long": _variant(policy={"timeout_s": 6000}),
}


def test_a_good_spec_passes_both(validator: jsonschema.Draft202012Validator, tmp_path: Path) -> None:
    (tmp_path / "shelter.yaml").write_text("openapi: 3.0.3\n")
    assert not list(validator.iter_errors(yaml.safe_load(GOOD)))
    parse_spec(GOOD, tmp_path / "spec.yaml")


@pytest.mark.parametrize("name", list(BROKEN))
def test_what_the_models_refuse_the_schema_refuses(
    validator: jsonschema.Draft202012Validator, tmp_path: Path, name: str
) -> None:
    (tmp_path / "shelter.yaml").write_text("openapi: 3.0.3\n")
    data = BROKEN[name]
    assert list(validator.iter_errors(data)), f"the schema accepts {name}"
    with pytest.raises(SpecError):
        parse_spec(yaml.safe_dump(data), tmp_path / "spec.yaml")


def test_the_editor_gets_each_problem_at_its_line(tmp_path: Path) -> None:
    from mcphub.compiler.spec_schema import check_spec_text

    (tmp_path / "shelter.yaml").write_text("openapi: 3.0.3\n")
    text = GOOD.replace("name: get_pet", "name: get pet").replace("rate_limit: 60/min", "rate_limit: lots")
    problems = check_spec_text(text, tmp_path / "spec.yaml")
    where = {(problem.line, problem.field) for problem in problems}
    assert (8, "tools[1].name") in where and (9, "policy.rate_limit") in where, problems
    assert check_spec_text(GOOD, tmp_path / "spec.yaml") == []
    [syntax] = check_spec_text("slug: [\n", tmp_path / "spec.yaml")
    assert syntax.line == 2 and "YAML syntax error" in syntax.message
