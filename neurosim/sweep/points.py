"""Sweep points: the grid, a seeded random sample or Latin hypercube, constraints, stable keys.

Imports ``hw``, ``errors``, ``sweep.spec`` and ``sweep.constraints``. A point is a value per
axis; dropping one (a false constraint, or the same settings as an earlier point) records the
reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurosim import hw
from neurosim.errors import ConfigError
from neurosim.sweep.constraints import Constraint, aliases, known_names
from neurosim.sweep.spec import MAX_POINTS, Scalar, SweepSpec, scheme_options

MAX_GRID_POINTS = MAX_POINTS
"""Largest full grid a spec may ask for (use ``random`` or ``lhs`` beyond)."""

_EXHAUSTIVE_SAMPLING = 10_000_000
"""Grids up to this size are sampled without replacement by index; larger ones by drawing
per-axis indices and discarding repeats."""


@dataclass(frozen=True)
class Point:
    """One combination of axis values, in axis order."""

    index: int
    """Position in the sweep (results are ordered by it)."""
    values: tuple[tuple[str, Scalar], ...]
    """(axis name, value) for every axis."""
    dropped: str = ""
    """Why the point is not run ("" if it is)."""

    def value(self, name: str) -> Scalar:
        return dict(self.values)[name]


def hw_values(spec: SweepSpec, point: Point) -> dict[str, Scalar]:
    """The point's hardware fields (full path → value), for ``hw.replace_fields``."""
    targets = {a.name: a.target for a in spec.axes}
    return {name: v for name, v in point.values if targets[name] == "hw"}


def settings(spec: SweepSpec, point: Point) -> tuple[str, dict[str, Scalar]]:
    """(scheme, conversion keywords) of the point: the base options overridden by the
    point's scheme axes, keeping only the keywords that apply to its scheme."""
    values = dict(point.values)
    scheme = str(values.get("scheme", spec.scheme))
    targets = {a.name: a.target for a in spec.axes}
    merged: dict[str, Scalar] = dict(spec.options)
    merged.update({k: v for k, v in values.items() if targets[k] == "scheme" and k != "scheme"})
    allowed = scheme_options(scheme)
    return scheme, {k: v for k, v in merged.items() if k in allowed}


def settings_key(scheme: str, options: Mapping[str, Scalar]) -> str:
    """Canonical text of a conversion setting (the functional pass is keyed by it)."""
    return canonical({"scheme": scheme, "options": dict(sorted(options.items()))})


def canonical(obj: Any) -> str:
    """Stable JSON text (sorted keys, exact float repr) for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)


def point_key(identity: str, point: Point) -> str:
    """16 hex digits naming a point: sha256 of the spec identity and the point's values.

    ``identity`` covers what a point's numbers depend on besides its own values (base hardware
    content, model, inputs, base settings; ``sweep.run.spec_identity``), so a finished point is
    recognised when a sweep is rerun or extended, whatever its index.
    """
    text = identity + canonical([[name, value] for name, value in point.values])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def generate_points(spec: SweepSpec, base: hw.HwConfig | None = None) -> tuple[Point, ...]:
    """Every point of ``spec`` in order, the dropped ones with their reason.

    ``grid``: all combinations, the first axis slowest. ``random``: ``points`` distinct grid
    combinations drawn with ``seed`` (the whole grid if it has no more), in grid order.
    ``lhs``: ``points`` rows of a Latin hypercube — each axis's value list is cut into
    ``points`` equal strata, strata paired by seeded permutations — so with at least as many
    points as values every value of an axis appears equally often (to within one), with fewer
    each stratum draws one value; a repeated combination is dropped.

    Raises
    ------
    ConfigError
        A grid larger than ``MAX_GRID_POINTS``.
    """
    base = base if base is not None else spec.load_hw()
    combos = _draw(spec)
    short = aliases(base.family)
    known = known_names(base.family, [a.name for a in spec.axes])
    constraints = [Constraint.parse(text, known) for text in spec.constraints]
    flat = _flat_config(hw.to_dict(base))
    out: list[Point] = []
    seen: dict[str, int] = {}
    for index, combo in enumerate(combos):
        values = tuple((a.name, a.values[i]) for a, i in zip(spec.axes, combo, strict=True))
        point = Point(index=index, values=values)
        reason = _constraint_reason(spec, point, constraints, flat, short)
        if not reason:
            scheme, options = settings(spec, point)
            effective = canonical(
                [sorted(hw_values(spec, point).items()), settings_key(scheme, options)]
            )
            if effective in seen:
                unused = [
                    a.name
                    for a in spec.axes
                    if a.target == "scheme"
                    and a.name != "scheme"
                    and a.name not in scheme_options(scheme)
                ]
                why = (
                    f" ({', '.join(unused)} does not apply to scheme {scheme!r})" if unused else ""
                )
                reason = f"same settings as point {seen[effective]}{why}"
            else:
                seen[effective] = index
        out.append(Point(index=index, values=values, dropped=reason))
    return tuple(out)


def _draw(spec: SweepSpec) -> list[tuple[int, ...]]:
    """Value indices of each point, per the sampling mode."""
    sizes = [len(a.values) for a in spec.axes]
    total = math.prod(sizes)
    if spec.mode == "grid":
        if total > MAX_GRID_POINTS:
            raise ConfigError(
                f"{spec.source}: sampling.mode = 'grid' gives {total} points "
                f"(more than {MAX_GRID_POINTS}); use mode 'random' or 'lhs' "
                f"with sampling.points"
            )
        return list(itertools.product(*(range(n) for n in sizes)))
    rng = np.random.default_rng(spec.seed)
    n = int(spec.points or 1)
    if spec.mode == "random":
        if n >= total:
            return list(itertools.product(*(range(k) for k in sizes)))
        if total <= _EXHAUSTIVE_SAMPLING:
            flat = np.sort(rng.choice(total, size=n, replace=False))
            return [tuple(int(i) for i in np.unravel_index(f, sizes)) for f in flat]
        picked: dict[tuple[int, ...], None] = {}
        while len(picked) < n:
            picked[tuple(int(rng.integers(k)) for k in sizes)] = None
        return sorted(picked)
    # Latin hypercube: stratum j of an axis covers [j/n, (j+1)/n) of its value list. With at
    # least as many points as values, stratum j takes value ⌊j·k/n⌋ (each value ⌊n/k⌋ or ⌈n/k⌉
    # times; a random draw inside strata that straddle two values could give 1 and 4 of 2.4);
    # with fewer, one random draw inside each stratum.
    columns = []
    for k in sizes:
        perm = rng.permutation(n)
        if n >= k:
            columns.append((perm * k) // n)
        else:
            u = (perm + rng.random(n)) / n
            columns.append(np.minimum((u * k).astype(np.int64), k - 1))
    return [tuple(int(c[i]) for c in columns) for i in range(n)]


def _flat_config(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_flat_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _constraint_reason(
    spec: SweepSpec,
    point: Point,
    constraints: Sequence[Constraint],
    flat: Mapping[str, Any],
    aliases: Mapping[str, str],
) -> str:
    """ "" if every constraint holds, else why the point is dropped."""
    values = dict(point.values)
    scheme, options = settings(spec, point)
    for c in constraints:
        env: dict[str, Any] = {}
        for name in c.names:
            if name in values:
                env[name] = values[name]
            elif name == "scheme":
                env[name] = scheme
            elif name in flat:
                env[name] = flat[name]
            elif name in options:
                env[name] = options[name]
            else:
                return (
                    f"constraint {c.text!r} reads {name!r}, which has no value at this "
                    f"point (not swept, not in base.options, or not used by scheme "
                    f"{scheme!r})"
                )
        try:
            ok = c.evaluate(env, aliases)
        except ConfigError as exc:
            return str(exc)
        if not ok:
            shown = ", ".join(f"{k} = {v!r}" for k, v in env.items())
            return f"constraint {c.text!r} is false ({shown})"
    return ""
