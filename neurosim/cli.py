"""Command line: ``neurosim run``; the only place that turns a NeurosimError into a message.

Imports everything upstream of it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from neurosim import convert, functional, io, ir, qann, zoo
from neurosim._files import atomic_write
from neurosim.errors import ModelError, NeurosimError

BUNDLED_MODEL = "digits.qann.npz"
BUNDLED_TEST_SET = "digits_test.npz"

RUN_COLUMNS = (
    "scheme",
    "accuracy",
    "ann_accuracy",
    "ann_agreement",
    "mean_time_steps",
    "spikes_per_image",
    "synaptic_ops_per_image",
    "first_layer_macs_per_image",
)
"""Columns of the ``run`` table (and keys of each JSON row under ``"schemes"``)."""


def bundled_path(name: str) -> Path:
    """Path of a file shipped in ``neurosim.data``."""
    return Path(str(resources.files("neurosim.data").joinpath(name)))


def load_inputs(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an inputs file: ``.npz`` with ``images`` (integer codes) and optional ``labels``."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such inputs file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "images" not in data.files:
                raise ModelError(f"{path}: missing array 'images' (found {data.files})")
            images = np.asarray(data["images"])
            labels = np.asarray(data["labels"]) if "labels" in data.files else None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable .npz inputs file ({exc})") from None
    if labels is not None and labels.shape != (len(images),):
        raise ModelError(f"{path}: labels must be [{len(images)}], got {labels.shape}")
    return images, labels


def resolve_model(spec: str | None, inputs: str | None, samples: int | None
                  ) -> tuple[ir.Network, np.ndarray, np.ndarray | None]:
    """Model, input codes and labels for ``--model`` (a path, ``zoo:NAME[:DATASET]`` or None)."""
    if spec is None:
        net = io.load_model(bundled_path(BUNDLED_MODEL))
        images, labels = load_inputs(inputs or bundled_path(BUNDLED_TEST_SET))
    elif spec.startswith("zoo:"):
        parts = spec.split(":")
        net = zoo.build(parts[1], dataset=parts[2] if len(parts) > 2 else "cifar10")
        if inputs:
            images, labels = load_inputs(inputs)
        else:
            images, labels = zoo.random_inputs(net, samples or 8), None
    else:
        net = io.load_model(spec)
        if not inputs:
            raise ModelError(f"--model {spec}: give --inputs FILE.npz (arrays 'images' and "
                             f"optionally 'labels') to simulate it")
        images, labels = load_inputs(inputs)
    if samples is not None:
        images = images[:samples]
        labels = None if labels is None else labels[:samples]
    return net, images, labels


def scheme_options(args: argparse.Namespace, scheme: str) -> dict[str, object]:
    """Conversion keywords for ``scheme`` from the command-line overrides."""
    opts: dict[str, object] = {}
    if scheme in ("if", "lmht") and args.num_steps is not None:
        opts["num_steps"] = args.num_steps
    if scheme == "mtif" and args.align:
        opts["align"] = args.align
    if scheme == "sws":
        opts.update(coding_steps=args.coding_steps, silent_steps=args.silent_steps)
    if scheme == "lmht":
        opts["num_levels"] = args.num_levels
    return opts


def run_table(net: ir.Network, images: np.ndarray, labels: np.ndarray | None,
              schemes: Sequence[str], args: argparse.Namespace, progress=None
              ) -> pd.DataFrame:
    """One row per scheme: accuracy, agreement with the quantized ANN, time-steps, op counts."""
    ref = qann.forward(net, images)
    ann_acc = float(np.mean(ref.predictions == labels)) if labels is not None else math.nan
    rows = []
    for scheme in schemes:
        snn = convert.convert(net, scheme, **scheme_options(args, scheme))
        tr = functional.run(snn, images, batch_size=args.batch_size, keep_spikes=False,
                            progress=progress)
        rows.append({
            "scheme": scheme,
            "accuracy": float(np.mean(tr.predictions == labels)) if labels is not None
            else math.nan,
            "ann_accuracy": ann_acc,
            "ann_agreement": float(np.mean(tr.predictions == ref.predictions)),
            "mean_time_steps": convert.mean_time_steps(snn),
            "spikes_per_image": tr.per_sample("spikes"),
            "synaptic_ops_per_image": tr.per_sample("synaptic_ops"),
            "first_layer_macs_per_image": tr.per_sample("first_layer_macs"),
        })
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def write_json_atomic(path: str | os.PathLike, payload: object) -> None:
    """Write JSON to ``path`` atomically (never a half-written file)."""
    atomic_write(path, (json.dumps(payload, indent=2) + "\n").encode())


def _cmd_run(args: argparse.Namespace) -> int:
    schemes = list(ir.SCHEMES) if not args.scheme else args.scheme
    for s in schemes:
        if s not in ir.SCHEMES:
            raise ModelError(f"--scheme {s!r}: allowed values are {list(ir.SCHEMES)}")
    net, images, labels = resolve_model(args.model, args.inputs, args.samples)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(images) * len(schemes), unit="img", desc="simulating",
                   file=sys.stderr, disable=None)
    try:
        table = run_table(net, images, labels, schemes, args,
                          progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    print(f"model: {net.name}   samples: {len(images)}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.json:
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                 for k, v in row.items()} for row in table.to_dict(orient="records")]
        write_json_atomic(args.json, {"model": net.name, "samples": len(images),
                                      "schemes": rows})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurosim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="convert a model to each scheme and simulate it")
    run.add_argument("--model", help="model file (.npz) or zoo:NAME[:DATASET]; "
                     "default: the bundled digits CNN")
    run.add_argument("--inputs", help=".npz with 'images' (integer codes) and 'labels'")
    run.add_argument("--scheme", action="append", choices=list(ir.SCHEMES),
                     help="scheme to run (repeatable); default: all four")
    run.add_argument("--samples", type=int, help="simulate only the first N samples")
    run.add_argument("--json", help="also write the table as JSON to this path")
    run.add_argument("--batch-size", type=int, default=256)
    run.add_argument("--num-steps", type=int, help="T for 'if' (default 8) and 'lmht' (2)")
    run.add_argument("--coding-steps", type=int, default=8, help="Tc for 'sws'")
    run.add_argument("--silent-steps", type=int, default=2, help="Ts for 'sws'")
    run.add_argument("--num-levels", type=int, default=4, help="L for 'lmht'")
    run.add_argument("--align", choices=list(ir.ALIGN_MODES), help="alignment for 'mtif'")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neurosim`` console script."""
    parser = build_parser()
    args = parser.parse_args(["run"] if argv is None and len(sys.argv) == 1 else argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    try:
        if args.command == "run":
            return _cmd_run(args)
    except NeurosimError as exc:
        print(f"neurosim: error: {exc}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
