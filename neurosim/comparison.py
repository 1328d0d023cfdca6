"""The papers' comparison table: every scheme / time-step setting of a quantized ANN on one
hardware config (``neurosim table``), a row each, an error row for a setting that cannot run.

Imports ``evaluations`` (the settings end to end), ``experiment``, ``ir``, ``metrics``, ``qann``
and ``errors``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from neurosim import evaluations, experiment, ir, metrics, qann
from neurosim.errors import ModelError, NeurosimError


def comparison_table(
    net: ir.Network,
    images: np.ndarray,
    labels: np.ndarray | None,
    config,
    *,
    settings: Sequence[tuple[str, Mapping[str, Any]]] | None = None,
    stream: int = experiment.DEFAULT_STREAM,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
    engine: str = "fast",
    keep_intervals: bool = True,
    jobs: int | None = None,
) -> tuple[pd.DataFrame, dict[str, experiment.Evaluation]]:
    """The papers' comparison: one row per scheme / time-step setting (``table_columns()``).

    A setting the model cannot run (e.g. input codes that need more coding steps, or a
    mapping that does not fit) becomes a row with ``status = "error"`` and the message; the
    others go on. Every setting is converted and mapped before any functional pass; a
    setting that fires spike for spike like an earlier one reuses its functional pass
    (``Scheme.spikes_like``). ``jobs``: settings evaluated at once
    (``evaluations.evaluate_settings``); the table does not depend on it.
    """
    if net.kind != "qann":
        raise ModelError(
            f"model '{net.name}' is already a '{net.scheme}' SNN: the table compares conversion "
            f"schemes of a quantized ANN; use neurosim run for an SNN"
        )
    chosen = experiment.table_settings() if settings is None else settings
    prepared: dict[int, tuple[ir.Network, Any] | NeurosimError] = {}
    for i, (scheme, options) in enumerate(chosen):
        try:
            prepared[i] = experiment.prepare(net, scheme, options, config)
        except NeurosimError as exc:
            prepared[i] = exc
    results = evaluations.evaluate_settings(
        net,
        images,
        labels,
        chosen,
        config,
        [prepared[i] for i in range(len(chosen))],
        jobs=jobs,
        stream=stream,
        batch_size=batch_size,
        reference=functools.partial(qann.predict, net, images),
        progress=progress,
        engine=engine,
        keep_intervals=keep_intervals,
    )
    rows, evals = [], {}
    for (scheme, options), ev in zip(chosen, results, strict=True):
        label = experiment.setting_label(scheme, options)
        if isinstance(ev, NeurosimError):
            rows.append({"setting": label, "scheme": scheme, "status": "error", "error": str(ev)})
            if progress is not None:
                progress(len(images))
            continue
        r = ev.row
        rows.append(
            {
                "setting": label,
                "scheme": scheme,
                "status": "ok",
                "error": "",
                **{k: r[k] for k in metrics.columns() if k in r},
            }
        )
        evals[label] = ev
    df = pd.DataFrame(rows, columns=list(experiment.table_columns()))
    df["error"] = df["error"].fillna("")
    return df, evals
