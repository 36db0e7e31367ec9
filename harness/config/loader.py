"""YAML loading that keeps line numbers, and pydantic validation whose errors point at them.

Every config file (station, profile, plan, envelope) goes through :func:`load_model`, so a bad file
always yields one ``file:line: field: what is wrong`` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from harness.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    """Parse ``path`` keeping line information (ruamel round-trip nodes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, "", f"cannot read: {exc}") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, name: str) -> Any:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(name, line, "", f"YAML syntax: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise ConfigError(name, None, "", f"YAML syntax: {exc}") from None
    except Exception as exc:  # ruamel raises odd types on some garbage (e.g. bad unicode escapes)
        raise ConfigError(name, None, "", f"YAML syntax: {type(exc).__name__}: {exc}") from None


def line_of(node: Any, path: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest element of ``path`` that exists in ``node``."""
    line: int | None = _start_line(node)
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            try:
                line = node.lc.key(key)[0] + 1
            except (KeyError, AttributeError, TypeError):
                pass
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            try:
                line = node.lc.item(key)[0] + 1
            except (KeyError, AttributeError, TypeError):
                pass
            node = node[key]
        else:
            break
    return line


def _start_line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else 1


def field_name(path: tuple[Any, ...]) -> str:
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += ("." if out else "") + str(key)
    return out


def to_plain(node: Any) -> Any:
    """ruamel nodes -> plain dicts/lists (pydantic validates plain data)."""
    if isinstance(node, dict):
        return {k if isinstance(k, (str, int, float, bool)) or k is None else str(k): to_plain(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


MESSAGES = {
    "extra_forbidden": "unknown field (typo?)",
    "missing": "required field is missing",
    "union_tag_not_found": "required field 'kind' is missing",
}


def config_error(exc: ValidationError, *, name: str, data: Any, node: Any, prefix: tuple[Any, ...] = (),
                 tag_names: list[str] | None = None) -> ConfigError:
    """The first pydantic error as a ConfigError pointing at its line in the YAML source."""
    err = exc.errors(include_url=False)[0]
    path = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    path = _strip_union_tags(path, data)
    msg = MESSAGES.get(err["type"], err["msg"])
    if err["type"] == "union_tag_invalid" and tag_names:
        msg = f"unknown kind (known: {', '.join(tag_names)})"
    return ConfigError(name, line_of(node, path) if node is not None else None, field_name(path), msg)


def validate(model: type[M], data: Any, *, name: str, node: Any = None, context: dict[str, Any] | None = None) -> M:
    """Validate plain ``data`` against ``model``; the first error becomes a ConfigError."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise config_error(exc, name=name, data=data, node=node) from None


def _strip_union_tags(path: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's discriminator tags (e.g. 'ac_cycle') that are not keys of the data."""
    out: list[Any] = []
    node = data
    for key in path:
        if isinstance(node, dict):
            if key in node:
                out.append(key)
                node = node[key]
            # else: a union tag or a missing field; keep a missing field only if it is last
            elif key == path[-1]:
                out.append(key)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            out.append(key)
            node = node[key]
        elif key == path[-1]:
            out.append(key)
    return tuple(out)


def load_model(model: type[M], path: Path, *, context: dict[str, Any] | None = None) -> M:
    node = read_yaml(path)
    if node is None:
        raise ConfigError(str(path), 1, "", "file is empty")
    if not isinstance(node, dict):
        raise ConfigError(str(path), _start_line(node), "", "expected a mapping at the top level")
    ctx = {"base_dir": path.parent, "file": str(path), **(context or {})}
    return validate(model, to_plain(node), name=str(path), node=node, context=ctx)
