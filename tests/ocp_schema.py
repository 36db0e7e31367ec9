"""The OCP TAP 2.0 JSON schemas (shipped in harness/results/ocp_schema) as a jsonschema validator.

Test-only: jsonschema is in the `test` extra, so rackval itself never validates its stream at run time.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from harness.results.ocp_artifacts import SCHEMA_DIR


def schema_validator() -> Draft202012Validator:
    """A validator for one OCP line, with every schema of the spec registered by its ``$id``."""
    resources, root = [], None
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
        if path.name == "root.json":
            root = doc
    assert root is not None, f"no root.json in {SCHEMA_DIR}"
    return Draft202012Validator(root, registry=Registry().with_resources(resources))


def assert_valid_ocp(lines: list[dict[str, Any]]) -> None:
    """A whole stream: every line valid, sequence numbers 0, 1, 2, ... and one testRunEnd, last."""
    validator = schema_validator()
    for n, obj in enumerate(lines):
        errors = list(validator.iter_errors(obj))
        assert not errors, f"line {n + 1}: {errors[0].message}"
        assert obj["sequenceNumber"] == n
    ends = [n for n, o in enumerate(lines) if "testRunEnd" in o.get("testRunArtifact", {})]
    assert ends == [len(lines) - 1], f"testRunEnd at lines {ends} of {len(lines)}"
