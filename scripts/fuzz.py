"""Seeded fuzz campaign of neurosim's inputs: model and inputs files, hardware configs, energy
tables and sweep specs, each case in a process of its own with a time and a memory limit.

Usage::

    python scripts/fuzz.py                          # 2,000 cases per input type, seed 0
    python scripts/fuzz.py --cases 100 --types hw,sweep --seed 3 --jobs 2
    python scripts/fuzz.py --replay hw:17 --keep case/   # one case's files, run here

This process imports neurosim once and warms its kernels; every case is then a forked child
(its own process: killed after ``--time-limit`` seconds, its address space capped with
``RLIMIT_AS`` at ``--memory-mb`` above the parent's) that writes the case's files into an empty
folder and calls ``neurosim.cli.main(argv)`` there, exactly what the ``neurosim`` command runs.
Each case is classified:

- ``ok``: exit 0 and every number in its results finite (else ``non-finite``);
- ``typed``: exit 2 with a message and no traceback (the user's mistake, said plainly);
- ``untyped``: any other exception or exit status (neurosim's bug path: a traceback);
- ``oom``: the out-of-memory message (an allocation the input's size did not justify);
- ``hang``: still running at the time limit; ``crash``: killed by a signal.

Cases are a pure function of (seed, type, index), so ``--replay`` rebuilds any of them; the
first reproducer of every failure class is printed with the table.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # One thread per library: two cases run at once on two cores.
    for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Cases are forked from this process: GNU OpenMP (numba's default layer here) aborts a
    # forked child once the parent has used it; the workqueue layer survives a fork.
    os.environ["NUMBA_THREADING_LAYER"] = "workqueue"

import argparse
import csv
import json
import math
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _benchdoc
from _fuzzbase import HW_NAMES
from _fuzzgen import FOLDER, FORMATS, GENERATORS, Case, Corpus, build_corpus

from neurosim import cli
from neurosim._cache import CACHE_ENV

CLASSES = ("ok", "typed", "untyped", "oom", "hang", "crash", "non-finite")
FAILURES = ("untyped", "oom", "hang", "crash", "non-finite")
OOM_MARK = "out of memory"
NAN_ALLOWED = {"accuracy", "ann_accuracy", "opf", "energy_ratio", "ann_energy_pj"}
"""Result columns that may be NaN (never infinite): no labels, no OPF for the scheme, E_SNN = 0
(a table of zero energies), no ANN baseline (a per-event table without [[op]] entries). Every
other number a run or sweep reports must be finite."""


def _checked_columns() -> set[str]:
    from neurosim.cli import run_columns
    from neurosim.sweep import metric_columns

    text = {"scheme", "hw", "family"}
    return (set(run_columns()) | set(metric_columns())) - text


@dataclass
class Outcome:
    case: Case
    cls: str
    detail: str = ""


@dataclass
class Summary:
    """Counts per input type and class, the first reproducer of each failure class, time."""

    seed: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    first: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    seconds: float = 0.0
    kinds: dict[str, list[Outcome]] = field(default_factory=dict)
    """Failure signature (type, class, the message's first words) -> its cases."""

    def add(self, out: Outcome) -> None:
        row = self.counts.setdefault(out.case.kind, dict.fromkeys(CLASSES, 0))
        row[out.cls] += 1
        if out.cls in FAILURES:
            self.first.setdefault((out.case.kind, out.cls), out)
            words = " ".join(out.detail.replace(":", " ").split()[:3])
            self.kinds.setdefault(f"{out.case.kind} {out.cls} {words}", []).append(out)

    def failures(self) -> int:
        return sum(row[c] for row in self.counts.values() for c in FAILURES)

    def table(self) -> str:
        head = ["type", "cases", "ok", "typed errors", "untyped", "oom", "hangs", "crashes"]
        head.append("non-finite")
        rows = []
        total = dict.fromkeys(CLASSES, 0)
        for kind in sorted(self.counts, key=list(GENERATORS).index):
            row = self.counts[kind]
            rows.append([kind, sum(row.values()), *(row[c] for c in CLASSES)])
            for c in CLASSES:
                total[c] += row[c]
        rows.append(["all", sum(total.values()), *(total[c] for c in CLASSES)])
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += [
            "| " + " | ".join(f"{v:,}" if isinstance(v, int) else v for v in r) + " |" for r in rows
        ]
        return "\n".join(lines)

    def signatures(self) -> str:
        """Every distinct failure signature with its count and first case."""
        lines = []
        for sig, outs in sorted(self.kinds.items(), key=lambda kv: -len(kv[1])):
            o = outs[0]
            lines.append(
                f"{len(outs):5d}  {sig}\n       {o.case.kind}:{o.case.index} "
                f"{o.case.what[:100]} | {o.detail[:160]}"
            )
        return "\n".join(lines)

    def reproducers(self) -> str:
        lines = []
        for (kind, cls), out in sorted(self.first.items()):
            lines.append(
                f"first {cls} of {kind}: case {kind}:{out.case.index} (seed {self.seed}): "
                f"{out.case.what}\n    neurosim {' '.join(map(repr, out.case.argv))}\n"
                f"    {out.detail}\n    replay: python scripts/fuzz.py --seed {self.seed} "
                f"--replay {kind}:{out.case.index} --keep case/"
            )
        return "\n".join(lines)


def make_case(corpus: Corpus, seed: int, kind: str, index: int) -> Case:
    """The case ``index`` of input type ``kind`` for ``seed`` (a pure function of the three)."""
    rng = np.random.default_rng([seed, list(GENERATORS).index(kind), index])
    return GENERATORS[kind](rng, corpus, index)


def write_files(case: Case, folder: Path) -> None:
    for name, data in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data == FOLDER:
            path.mkdir(exist_ok=True)
        else:
            path.write_bytes(data)


# --------------------------------------------------------------------------------------------
# One case in a forked child
# --------------------------------------------------------------------------------------------


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _nonfinite(case: Case, folder: Path) -> str:
    """The first non-finite number in the case's result files, or ""."""
    for name in case.outputs:
        path = folder / name
        if not name or not path.is_file():
            continue
        if path.suffix == ".json":
            rows = json.loads(path.read_text()).get("schemes", [])
        else:
            with open(path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if r.get("status") == "ok"]
        checked = _checked_columns()
        for row in rows:
            for key, value in row.items():
                if key not in checked:
                    continue
                number = math.nan if value is None or value == "" else float(value)
                if math.isnan(number) and key in NAN_ALLOWED:
                    continue
                if not math.isfinite(number):
                    return f"{name}: {key} = {value!r}"
    return ""


def _child(case: Case, folder: Path, memory: int) -> None:
    """Body of the forked child: run the case, write ``result.json``, never return."""
    code, detail = 99, ""
    try:
        os.setsid()
        os.chdir(folder)
        write_files(case, folder)
        for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
            out = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, fd)
            os.close(out)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + memory, resource.RLIM_INFINITY))
        try:
            code = cli.main(case.argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:
            code, detail = -1, f"{type(exc).__name__}: {exc}"[:300]
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        if code == 0:
            detail = _nonfinite(case, folder)
        (folder / "result.json").write_text(json.dumps({"code": code, "detail": detail}))
    except BaseException:
        with open(folder / "child_error.txt", "w") as fh:
            traceback.print_exc(file=fh)
    finally:
        os._exit(0)


def _classify(case: Case, folder: Path, status: int | None) -> Outcome:
    """The class of a finished (``status`` from waitpid) or killed (None) child (the case's
    temporary folder is shown as ``<case>`` in details)."""
    out = _classify_raw(case, folder, status)
    out.detail = out.detail.replace(str(folder), "<case>")
    return out


def _classify_raw(case: Case, folder: Path, status: int | None) -> Outcome:
    if status is None:
        return Outcome(case, "hang", "still running at the time limit")
    if os.WIFSIGNALED(status):
        return Outcome(case, "crash", f"killed by signal {os.WTERMSIG(status)}")
    result = folder / "result.json"
    if not result.is_file():
        err = folder / "child_error.txt"
        return Outcome(case, "crash", err.read_text()[-300:] if err.is_file() else "no result")
    res = json.loads(result.read_text())
    code, detail = res["code"], res["detail"]
    err = (folder / "stderr.txt").read_text(errors="replace")
    lines = [
        ln for ln in err.splitlines() if ln.strip() and not ln.startswith("neurosim: internal")
    ]
    last = lines[-1] if lines else ""
    if code == 0:
        return Outcome(case, "non-finite", detail) if detail else Outcome(case, "ok")
    if code == 2 and OOM_MARK in err:
        return Outcome(case, "oom", last[:300])
    if code == 2 and "Traceback" not in err:
        return Outcome(case, "typed")
    return Outcome(case, "untyped", (detail or last)[:300] or f"exit {code}")


def campaign(
    kinds: Sequence[str],
    cases: int,
    *,
    seed: int = 0,
    jobs: int = 2,
    time_limit: float = 30.0,
    memory_mb: int = 1500,
    progress: bool = False,
) -> Summary:
    """Run ``cases`` cases of every type in ``kinds``; returns the counts and reproducers."""
    summary = Summary(seed=seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="neurosim-fuzz-") as tmp:
        root = Path(tmp)
        os.environ[CACHE_ENV] = str(root / "cache")
        corpus = build_corpus(root)
        warm_up(corpus, root / "warm")
        todo = [(kind, i) for i in range(cases) for kind in kinds]
        running: dict[int, tuple[Case, Path, float]] = {}
        done = 0
        while todo or running:
            while todo and len(running) < jobs:
                kind, i = todo.pop(0)
                case = make_case(corpus, seed, kind, i)
                folder = root / f"{kind}-{i}"
                folder.mkdir()
                pid = os.fork()
                if pid == 0:
                    _child(case, folder, memory_mb * 2**20)
                running[pid] = (case, folder, time.monotonic() + time_limit)
            pid, status = os.waitpid(-1, os.WNOHANG)
            finished = []
            if pid:
                finished.append((pid, status))
            now = time.monotonic()
            for p, (_, _, deadline) in list(running.items()):
                if now > deadline and all(p != f for f, _ in finished):
                    _kill(p)
                    os.waitpid(p, 0)
                    finished.append((p, None))
            for p, st in finished:
                case, folder, _ = running.pop(p)
                summary.add(_classify(case, folder, st))
                _kill_group(p)
                shutil.rmtree(folder, ignore_errors=True)
                done += 1
                if progress and done % 200 == 0:
                    print(f"  {done} / {cases * len(kinds)} cases", file=sys.stderr, flush=True)
            if not pid:
                time.sleep(0.005)
    summary.seconds = time.perf_counter() - t0
    return summary


def _kill(pid: int) -> None:
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _kill_group(pid: int) -> None:
    """Kill whatever the case left running in its session (its own process group)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def warm_up(corpus: Corpus, folder: Path) -> None:
    """Run each valid seed once in this process, so the forked cases start with every kernel
    compiled and every module imported."""
    folder.mkdir()
    cwd = os.getcwd()
    saved = sys.stdout, sys.stderr
    try:
        os.chdir(folder)
        (folder / "m.npz").write_bytes(corpus.models[1])
        (folder / "i.npz").write_bytes(corpus.inputs)
        (folder / "s.sweep.toml").write_text(corpus.sweep_text)
        sys.stdout = sys.stderr = open(os.devnull, "w")
        for hw_name in ("pe_array_tiny", "multicore", "loihi"):
            for scheme in ("if", "mtif", "sws", "lmht"):
                argv = ["run", "--model", "m.npz", "--inputs", "i.npz", "--no-progress"]
                cli.main([*argv, "--hw", hw_name, "--scheme", scheme, "--samples", "2"])
        cli.main(["sweep", "s.sweep.toml", "--out", "out", "--no-progress", "--workers", "1"])
        (folder / "o.onnx").write_bytes(corpus.onnx_models[0])
        (folder / "n.nir").write_bytes(corpus.nir_models[0][0])
        (folder / "n.npz").write_bytes(corpus.nir_models[0][1])
        for model, inputs in (("o.onnx", "i.npz"), ("n.nir", "n.npz")):
            for hw_name in HW_NAMES:
                argv = ["run", "--model", model, "--inputs", inputs, "--hw", hw_name]
                cli.main([*argv, "--samples", "2", "--no-progress"])
    finally:
        sys.stdout, sys.stderr = saved
        os.chdir(cwd)


def replay(corpus_root: Path, seed: int, spec: str, keep: Path) -> int:
    """Write case ``TYPE:INDEX`` into ``keep`` and run it in this process (tracebacks shown)."""
    kind, _, index = spec.partition(":")
    corpus = build_corpus(corpus_root)
    case = make_case(corpus, seed, kind, int(index))
    keep.mkdir(parents=True, exist_ok=True)
    write_files(case, keep)
    print(f"case {spec} (seed {seed}): {case.what}")
    print(f"in {keep}: neurosim {' '.join(map(repr, case.argv))}")
    os.chdir(keep)
    return cli.main(case.argv)


def _write_docs(summary: Summary, args: argparse.Namespace, kinds: list[str]) -> None:
    """This run's section of docs/benchmarks.md (``--write-docs``)."""
    total = sum(sum(row.values()) for row in summary.counts.values())
    covered = "; ".join(f"{kind}: {FORMATS[kind]}" for kind in kinds)
    text = _benchdoc.section(
        "fuzz",
        "Fuzz campaign",
        what=(
            f"`scripts/fuzz.py`: {total:,} seeded cases (seed {args.seed}, {args.cases:,} per "
            f"input type), each a forked child of a process that imported neurosim once, limited "
            f"to {args.time_limit:g} s and {args.memory_mb} MiB above the parent, {args.jobs} at "
            f"a time; {summary.seconds / 60:.1f} minutes in all. Formats covered: {covered}. "
            f"What each class means: [validation.md](validation.md#fuzz-campaign)."
        ),
        table=summary.table(),
        target="no untyped exception, out-of-memory, hang, crash or non-finite result",
        met=summary.failures() == 0,
        notes=[summary.reproducers().replace("\n", " ")] if summary.first else (),
    )
    _benchdoc.write_section("fuzz", text, args.write_docs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="cases per input type")
    parser.add_argument("--types", default=",".join(GENERATORS), help="comma-separated types")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per case")
    parser.add_argument("--memory-mb", type=int, default=1500, help="address space per case")
    parser.add_argument("--replay", help="TYPE:INDEX: rebuild one case and run it here")
    parser.add_argument("--keep", type=Path, default=Path("fuzz-case"), help="folder for --replay")
    parser.add_argument(
        "--signatures", action="store_true", help="also list every distinct failure"
    )
    parser.add_argument("--json", type=Path, help="also write the counts as JSON here")
    _benchdoc.add_argument(parser)
    args = parser.parse_args(argv)
    if args.replay:
        with tempfile.TemporaryDirectory() as tmp:
            return replay(Path(tmp), args.seed, args.replay, args.keep.resolve())
    kinds = [k for k in args.types.split(",") if k]
    unknown = sorted(set(kinds) - set(GENERATORS))
    if unknown:
        parser.error(f"unknown types {unknown}; known: {', '.join(GENERATORS)}")
    summary = campaign(
        kinds,
        args.cases,
        seed=args.seed,
        jobs=args.jobs,
        time_limit=args.time_limit,
        memory_mb=args.memory_mb,
        progress=True,
    )
    print(f"fuzz campaign: seed {args.seed}, {args.cases} cases per type, {args.jobs} at a time, ")
    print(
        f"limits {args.time_limit:g} s and {args.memory_mb} MiB per case; "
        f"{summary.seconds:.0f} s in all\n"
    )
    print(summary.table())
    if summary.first:
        print()
        print(summary.reproducers())
    if args.signatures and summary.kinds:
        print()
        print(summary.signatures())
    if args.json:
        first = {
            f"{kind}:{cls}": {"case": out.case.index, "what": out.case.what, "detail": out.detail}
            for (kind, cls), out in summary.first.items()
        }
        payload = {
            "seed": args.seed,
            "cases_per_type": args.cases,
            "seconds": summary.seconds,
            "counts": summary.counts,
            "first": first,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    if args.write_docs:
        _write_docs(summary, args, kinds)
    return 1 if summary.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
