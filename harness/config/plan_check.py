"""A plan judged together with its envelope and rack profile, before any run: what ``plans validate`` adds
to loading the files.

- every envelope limit is one some step kind measures: a typo (``host_on_sec``) would otherwise surface only
  in ``envelope_coverage``, at the end of a three-hour run;
- the envelope is for the plan's SKU, and that profile exists;
- the components steps name (``psu_redundancy``'s ``psu``, ``power_cap``'s ``trays``) are in the profile.

Every mistake is reported (one ``file:line: field: what is wrong`` each). A limit a step checks that the
envelope leaves out is not a mistake: an envelope serves every plan of its SKU, and an air-cooled rack's
has no coolant limits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from harness.config.plan import Envelope, LoadedPlan, StepBase
from harness.config.profile import Profile, load_profile, profile_path
from harness.errors import ConfigError, short_list
from harness.paths import fixtures_dir
from harness.yaml_loader import field_line, field_name, line_of, read_yaml

#: step fields that name rack components, and what they must be in the profile
COMPONENT_FIELDS = {"psu": "PSU", "trays": "tray"}


class LimitCatalog(Protocol):
    """What the step kinds measure (harness.stepkit.registry.StepKinds), handed in."""

    @property
    def known_limits(self) -> frozenset[str]: ...
    def limits_of(self, step: StepBase) -> frozenset[str]: ...


def envelope_problems(envelope: Envelope, path: Path, kinds: LimitCatalog) -> list[ConfigError]:
    """Limit names no step kind measures, each at its line, with the nearest known name."""
    node = read_yaml(path)
    known = sorted(kinds.known_limits)
    out = []
    for name in envelope.limits:
        if name not in kinds.known_limits:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            out.append(ConfigError(str(path), line_of(node, ("limits", name)), f"limits.{name}",
                                   f"no step kind measures a limit named {name!r}{hint} "
                                   "(`rackval list steps` shows what each kind measures)"))
    return out


def plan_problems(loaded: LoadedPlan, kinds: LimitCatalog, profile: Profile | None = None) -> list[ConfigError]:
    """Mistakes in the plan and envelope taken together; ``profile`` stands in for the plan's own."""
    problems = envelope_problems(loaded.envelope, loaded.envelope_path, kinds)
    plan, plan_path = loaded.plan, loaded.path
    if profile is None and plan.profile:
        profile = _plan_profile(loaded, problems)
        if profile is None:  # an unknown SKU: nothing to compare the envelope and steps with
            return problems
    elif profile is not None and plan.profile and plan.profile != profile.sku:
        problems.append(ConfigError(str(plan_path), field_line(plan_path, "profile"), "profile",
                                    f"the plan is written for {plan.profile!r}, the profile given is {profile.sku!r}"))
    sku = plan.profile or (profile.sku if profile else None)
    if sku and loaded.envelope.sku != sku:
        where = f"{plan_path}:{field_line(plan_path, 'profile')}" if plan.profile else "--profile"
        problems.append(ConfigError(str(loaded.envelope_path), field_line(loaded.envelope_path, "sku"), "sku",
                                    f"the envelope is for {loaded.envelope.sku!r}, but plan {plan.name} is written "
                                    f"for {sku!r} ({where})"))
    if profile is not None:
        problems += _component_problems(loaded, profile)
    return problems


def _plan_profile(loaded: LoadedPlan, problems: list[ConfigError]) -> Profile | None:
    name, path = loaded.plan.profile or "", loaded.path
    if not profile_path(name, path.parent).is_file():
        known = sorted(q.stem for q in (fixtures_dir() / "profiles").glob("*.yaml"))
        problems.append(ConfigError(str(path), field_line(path, "profile"), "profile",
                                    f"unknown profile {name!r} (known: {', '.join(known)}; for another SKU give "
                                    "--profile FILE)"))
        return None
    try:
        return load_profile(name, path.parent)
    except ConfigError as exc:
        problems.append(exc)
        return None


def _steps(steps: list[Any], prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], StepBase]]:
    """Every step with its path in the plan, a group's children included."""
    for i, step in enumerate(steps):
        keys = (*prefix, "steps", i)
        yield keys, step
        children = getattr(step, "steps", None)
        if isinstance(children, list):
            yield from _steps(children, keys)


def _component_problems(loaded: LoadedPlan, profile: Profile) -> list[ConfigError]:
    node = read_yaml(loaded.path)
    known = {"PSU": profile.psu_names(), "tray": profile.tray_names()}
    out = []
    for keys, step in _steps(loaded.steps):
        for attr, what in COMPONENT_FIELDS.items():
            value = getattr(step, attr, None)
            for j, name in enumerate([value] if isinstance(value, str) else value or []):
                if name not in known[what]:
                    at = (*keys, attr) if isinstance(value, str) else (*keys, attr, j)
                    out.append(ConfigError(str(loaded.path), line_of(node, at), field_name(at),
                                           f"the {profile.sku} profile has no {what} {name!r} "
                                           f"(its {what}s: {short_list(known[what])})"))
    return out
