"""Sweep constraints: a small arithmetic-and-comparison grammar over the names a point may use.

Imports ``hw``, ``families``, ``schemes`` and ``errors``. Parsed with ``ast`` and evaluated by
walking the tree (never ``eval``); the axes' types (``sweep.spec``) only for annotations.
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neurosim import families, hw, schemes
from neurosim.errors import ConfigError


def aliases(family: str) -> Mapping[str, str]:
    """Short axis names of a hardware family (its record's ``aliases``; MT-SNN Algorithm 2's
    unroll symbols for the PE array) and the field each stands for; results use the full path."""
    return families.get(family).aliases if family in families.names() else {}


def _is_scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float | str) and not (
        isinstance(value, float) and not math.isfinite(value)
    )


def known_names(family: str, axis_names: Sequence[str]) -> dict[str, str]:
    """Names a constraint may use → the parameter they read (aliases resolved); the sweep's
    own axes (``axis_names``) are known as themselves."""
    known = {p: p for p in hw.field_paths(family) if not p.startswith("meta.")}
    known.update(aliases(family))
    known.update({o: o for o in ("scheme", *schemes.option_names())})
    known.update({name: name for name in axis_names})
    return known


_BINARY: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: Mapping[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_BOOLEANS = {"true": True, "false": False, "True": True, "False": False}
_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "log2": math.log2,
}
MAX_CHARS = 1000
"""Longest constraint text (characters)."""
MAX_DEPTH = 32
"""Deepest expression tree (nested operators, calls and parentheses)."""
MAX_INT_BITS = 128
"""Widest integer any step of an evaluation may produce (bits): |value| < 2^128."""
MAX_STRING = 1000
"""Longest string any step of an evaluation may produce (characters)."""
LIMITS = (
    f"at most {MAX_CHARS} characters, nested at most {MAX_DEPTH} deep, and every intermediate "
    f"value an integer below 2^{MAX_INT_BITS}, a finite float or a string of at most "
    f"{MAX_STRING} characters"
)
"""The bounds of a constraint, in words (messages and docs/sweeps.md)."""

GRAMMAR = (
    "numbers, strings, true/false, parameter names (dotted hardware paths, aliases, "
    "'scheme', conversion keywords), + - * / // % **, == != < <= > >=, and or not, "
    "parentheses, min() max() abs() log2()"
)
"""What a constraint may contain (the README repeats it)."""


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: its text, the tree and the parameters it reads."""

    text: str
    tree: ast.Expression = field(repr=False, compare=False)
    names: tuple[str, ...]
    """Parameters read (full paths)."""

    @classmethod
    def parse(cls, text: str, known: Mapping[str, str]) -> Constraint:
        """Parse ``text``; ConfigError if it leaves the grammar, its bounds (``LIMITS``) or
        names an unknown parameter."""
        if len(text) > MAX_CHARS:
            raise ConfigError(
                f"{_short(text)}: {len(text)} characters; a constraint has at most {MAX_CHARS}"
            )
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise ConfigError(
                f"{_short(text)} is not an expression ({exc.msg}); allowed: {GRAMMAR}"
            ) from None
        except (RecursionError, MemoryError, ValueError):
            raise ConfigError(
                f"{_short(text)} is not an expression neurosim evaluates; bounds: {LIMITS}"
            ) from None
        names: list[str] = []
        stack: list[tuple[ast.AST, int]] = [(tree, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise ConfigError(
                    f"{_short(text)}: nested deeper than {MAX_DEPTH} levels; bounds: {LIMITS}"
                )
            if isinstance(node, ast.Name | ast.Attribute):
                dotted = _dotted(node)
                if dotted is None:
                    raise ConfigError(
                        f"{text!r}: {ast.unparse(node)!r} is not a parameter "
                        f"name; allowed: {GRAMMAR}"
                    )
                if dotted in _BOOLEANS:
                    continue
                if dotted not in known:
                    hint = difflib.get_close_matches(dotted, list(known), n=1)
                    did_you_mean = f" did you mean {hint[0]!r}?" if hint else ""
                    raise ConfigError(
                        f"{text!r}: unknown parameter {dotted!r};{did_you_mean}"
                        f" allowed: axis names, hardware fields, 'scheme' and "
                        f"conversion keywords"
                    )
                names.append(known[dotted])
                continue  # the parts of a dotted name are not names of their own
            if not isinstance(node, _ALLOWED_NODES):
                raise ConfigError(
                    f"{text!r}: {type(node).__name__} is not allowed; allowed: {GRAMMAR}"
                )
            if isinstance(node, ast.Call):
                if (
                    not isinstance(node.func, ast.Name)
                    or node.func.id not in _FUNCTIONS
                    or node.keywords
                ):
                    raise ConfigError(f"{text!r}: only {', '.join(_FUNCTIONS)}() may be called")
                stack.extend((a, depth + 1) for a in reversed(node.args))
                continue
            if isinstance(node, ast.Constant) and not _is_scalar(node.value):
                raise ConfigError(f"{text!r}: constant {node.value!r} is not allowed")
            stack.extend((c, depth + 1) for c in reversed(list(ast.iter_child_nodes(node))))
        return cls(text=text, tree=tree, names=tuple(dict.fromkeys(names)))

    def evaluate(self, values: Mapping[str, Any], aliases: Mapping[str, str]) -> bool:
        """True if the point satisfies the constraint; ``values`` maps every name in
        ``names`` to its value. ConfigError if it cannot be evaluated (e.g. division by 0)."""
        try:
            return bool(_eval(self.tree.body, values, aliases))
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"constraint {_short(self.text)} cannot be evaluated: {exc}"
            ) from None


_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Compare,
    ast.Constant,
    ast.Call,
    ast.Load,
    *_BINARY,
    *_COMPARE,
)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _short(text: str) -> str:
    """A constraint's text for a message (long ones cut)."""
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")


def _bounded(value: Any) -> Any:
    """``value`` if it is within ``LIMITS``, else ValueError (the evaluation stops)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ValueError(f"an intermediate integer exceeds 2^{MAX_INT_BITS}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("an intermediate value is not finite")
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise ValueError(f"an intermediate string is longer than {MAX_STRING} characters")
    return value


def _check_operation(op: ast.operator, a: Any, b: Any) -> None:
    """ValueError before an operation whose result would leave ``LIMITS`` (powers of
    integers and repeated strings are sized from their operands, not computed)."""
    if isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int) and b > 0:
        if abs(a) > 1 and (abs(a).bit_length() - 1) * b > MAX_INT_BITS:
            raise ValueError(f"{a} ** {b} exceeds 2^{MAX_INT_BITS}")
    if isinstance(op, ast.Mult):
        for text, count in ((a, b), (b, a)):
            if isinstance(text, str) and isinstance(count, int) and len(text) * count > MAX_STRING:
                raise ValueError(f"a string of more than {MAX_STRING} characters")


def _eval(node: ast.AST, values: Mapping[str, Any], aliases: Mapping[str, str]) -> Any:
    return _bounded(_eval_node(node, values, aliases))


def _eval_node(node: ast.AST, values: Mapping[str, Any], aliases: Mapping[str, str]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        name = _dotted(node)
        if name in _BOOLEANS:
            return _BOOLEANS[name]
        return values[aliases.get(name, name)]
    if isinstance(node, ast.BoolOp):
        parts = (_eval(v, values, aliases) for v in node.values)
        return all(parts) if isinstance(node.op, ast.And) else any(parts)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, values, aliases)
        if isinstance(node.op, ast.Not):
            return not v
        return -v if isinstance(node.op, ast.USub) else +v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, values, aliases), _eval(node.right, values, aliases)
        if isinstance(node.op, ast.Pow) and abs(b) > 64:
            raise ValueError(f"exponent {b} is larger than 64")
        _check_operation(node.op, a, b)
        return _BINARY[type(node.op)](a, b)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values, aliases)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, values, aliases)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        return _FUNCTIONS[node.func.id](*(_eval(a, values, aliases) for a in node.args))
    raise ValueError(f"{type(node).__name__} is not allowed")  # excluded by parse()
