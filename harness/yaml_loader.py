"""YAML loading that keeps line numbers, and pydantic validation whose errors point at them.

Every config file (station, profile, plan, envelope) goes through :func:`load_model`, so a bad file
always yields one ``file:line: field: what is wrong`` line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from harness.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    """Parse ``path`` keeping line information (ruamel round-trip nodes)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), None, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), None, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        field = field_near(raw.decode("utf-8", "replace"), line)
        raise ConfigError(str(path), line, field, f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {column} "
                          "(save the file as UTF-8)") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, name: str) -> Any:
    """Parse YAML text; a syntax error becomes one ConfigError naming its line and the field it is in."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(name, line, field_near(text, line), f"YAML syntax: {problem}") from None
    except Exception as exc:  # noqa: BLE001 - ruamel raises odd types on some garbage (bad escapes, tags)
        line = _line_in(exc) or 1
        raise ConfigError(name, line, field_near(text, line), f"YAML syntax: {type(exc).__name__}: {exc}") from None


def _line_in(exc: BaseException) -> int | None:
    """The 1-based line of a YAML error that carries a mark but is not a MarkedYAMLError."""
    for attr in ("problem_mark", "context_mark"):
        mark = getattr(exc, attr, None)
        if mark is not None and getattr(mark, "line", None) is not None:
            return int(mark.line) + 1
    return None


DOCUMENT = "(document)"  # the field of an error about the file as a whole
_KEY_LINE = re.compile(r"^(?P<head>\s*(?:-\s+)*(?:[^\s#'\"\[\]{},:][^#:]*?|'[^']*'|\"[^\"]*\")\s*:)(?:\s|$)")


def field_near(text: str, line: int) -> str:
    """Best guess at the field a YAML syntax error at ``line`` sits in, for the one-line message.

    The document cannot be parsed, so the part before the error is: the lines above it plus the
    error line's own key (its broken value dropped). The last key path of that prefix is the field."""
    lines = text.splitlines()[:max(0, line)]
    candidates = []
    if lines:
        last = lines[-1]
        indent = last[:len(last) - len(last.lstrip())]
        if "\t" in indent:  # a tab cannot indent YAML: assume the indentation of the line above
            above = next((ln for ln in reversed(lines[:-1]) if ln.strip()), "")
            last = above[:len(above) - len(above.lstrip())] + last.lstrip()
        key = _KEY_LINE.match(last)
        if key:
            candidates.append([*lines[:-1], key.group("head")])
    candidates += [lines[:-1], lines[:-2]]
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True
    for head in candidates:
        if not head:
            continue
        try:
            node = yaml.load("\n".join(head).replace("\t", " "))
        except Exception:  # noqa: BLE001, S112 - only a guess: try a shorter prefix
            continue
        path = _last_path(node)
        if path:
            return field_name(path)
    return DOCUMENT


def _last_path(node: Any) -> tuple[Any, ...]:
    path: list[Any] = []
    while True:
        if isinstance(node, dict) and node:
            key = list(node)[-1]
            path.append(key)
            node = node[key]
        elif isinstance(node, list) and node:
            path.append(len(node) - 1)
            node = node[-1]
        else:
            return tuple(path)


def field_line(path: Path | str, *keys: Any) -> int | None:
    """Line of a field of a file already validated, for errors found later (while opening a run)."""
    try:
        return line_of(read_yaml(Path(path)), keys)
    except ConfigError:  # the file changed or went away since: name it without a line
        return None


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


def _kind(node: Any) -> str:
    return "a list" if isinstance(node, list) else f"a {type(node).__name__}"


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
    return config_errors(exc, name=name, data=data, node=node, prefix=prefix, tag_names=tag_names)[0]


def config_errors(exc: ValidationError, *, name: str, data: Any, node: Any, prefix: tuple[Any, ...] = (),
                  tag_names: list[str] | None = None) -> list[ConfigError]:
    """Every pydantic error as a ConfigError pointing at its line (``rackval station validate`` lists them
    all; a run stops at the first)."""
    out: list[ConfigError] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        bad_key = "[key]" in loc  # pydantic's marker for a mapping key (not its value) that is wrong
        path = prefix + tuple(p for p in loc if p != "[key]")
        path = _strip_union_tags(path, data)
        msg = MESSAGES.get(err["type"], err["msg"].removeprefix("Value error, "))  # our own validators' words
        if bad_key:
            msg = f"not a valid key here: {msg}"
        if err["type"] == "union_tag_invalid" and tag_names:
            msg = f"unknown kind (known: {', '.join(tag_names)})"
        error = ConfigError(name, line_of(node, path) if node is not None else 1, field_name(path) or DOCUMENT, msg)
        if str(error) not in {str(e) for e in out}:  # a union reports one wrong value once per member
            out.append(error)
    return out


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


def read_mapping(path: Path) -> Any:
    """A config file's top-level mapping (round-trip node, with lines); empty or not a mapping is an error."""
    node = read_yaml(path)
    if node is None:
        raise ConfigError(str(path), 1, DOCUMENT, "file is empty")
    if not isinstance(node, dict):
        raise ConfigError(str(path), _start_line(node), DOCUMENT,
                          f"expected a mapping (key: value lines) at the top level, not {_kind(node)}")
    return node


def load_model(model: type[M], path: Path, *, context: dict[str, Any] | None = None) -> M:
    node = read_mapping(path)
    ctx = {"base_dir": path.parent, "file": str(path), **(context or {})}
    return validate(model, to_plain(node), name=str(path), node=node, context=ctx)
