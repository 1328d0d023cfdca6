"""Several settings (scheme and options) of one model on one hardware config, evaluated end to
end: settings that fire alike share a functional pass, and independent groups of settings run
side by side on the machine's cores (``neurosim run`` and ``neurosim table``).

Imports ``experiment`` (one setting end to end), ``functional`` (which settings fire alike),
``ir`` and ``errors``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from neurosim import experiment, functional, ir
from neurosim.errors import NeurosimError

Prepared = tuple[ir.Network, Any]
"""``experiment.prepare``'s result: (SNN, mapping)."""


def share_groups(snns: Sequence[ir.Network | None]) -> list[list[int]]:
    """Indices of ``snns`` in groups: each group is a setting followed by the later settings
    that fire spike for spike like it (``functional.same_spikes``), so they carry its
    functional pass over; None (a setting that could not be prepared) is a group of its own.
    Groups are in the order of their first setting."""
    groups: list[list[int]] = []
    taken: set[int] = set()
    for i, snn in enumerate(snns):
        if i in taken:
            continue
        group = [i]
        if snn is not None:
            group += [
                j
                for j in range(i + 1, len(snns))
                if j not in taken and snns[j] is not None and functional.same_spikes(snn, snns[j])
            ]
        taken.update(group)
        groups.append(group)
    return groups


def parallel_groups(jobs: int | None, groups: int) -> int:
    """How many groups run at once: ``jobs`` (default: the CPU count, at most 2), never more
    than there are groups."""
    want = min(2, os.cpu_count() or 1) if jobs is None else int(jobs)
    return max(1, min(want, groups))


def shared_batch(snn: ir.Network, batch_size: int, workers: int) -> int:
    """The batch of one of ``workers`` functional passes running at once: at most its share
    of ``functional.max_batch`` (the memory bound of one pass), so that side-by-side passes
    take about the memory of one. Results do not depend on the batch."""
    if workers <= 1 or snn.kind != "snn":
        return batch_size
    return max(1, min(batch_size, functional.max_batch(snn) // workers))


def evaluate_settings(
    net: ir.Network,
    images: np.ndarray,
    labels: np.ndarray | None,
    settings: Sequence[tuple[str, Mapping[str, Any]]],
    config,
    prepared: Sequence[Prepared | NeurosimError],
    *,
    jobs: int | None = None,
    **options: Any,
) -> list[experiment.Evaluation | NeurosimError]:
    """``experiment.evaluate`` of every setting, in the order given: an ``Evaluation``, or the
    ``NeurosimError`` that setting raised (also one that ``prepare`` raised, as given in
    ``prepared``). ``options`` go to every ``evaluate`` call (stream, batch size, reference,
    engine, ...); a ``reference`` given as a function (the quantized ANN's ``qann.predict``)
    is called once, beside the first groups when they run side by side.

    The settings of a ``share_groups`` group run one after the other in one thread, the later
    ones carrying the first one's functional pass over (it is dropped after the group, so a
    run holds one stream's spikes per running group); ``jobs`` groups run at once (see
    ``parallel_groups``), each with its share of Numba's threads. Every result is the one a
    lone ``evaluate`` gives: the groups share nothing but the read-only model and inputs. Each
    running pass takes its share of the batch memory bound (``shared_batch``).
    """
    batch = int(options.pop("batch_size", 256))
    snns = [p[0] if not isinstance(p, NeurosimError) else None for p in prepared]
    groups = share_groups(snns)
    workers = parallel_groups(jobs, len(groups))
    threads = max(1, numba.get_num_threads() // workers)
    results: list[experiment.Evaluation | NeurosimError | None] = [None] * len(settings)

    # A reference given as a function is computed once, beside the first groups' passes
    # (which read it only when done).
    reference = options.get("reference")

    def run_group(group: list[int]) -> None:
        if workers > 1:
            numba.set_num_threads(threads)  # this thread's share (Numba's count is per thread)
        known: list[experiment.FunctionalResult] = []
        for i in group:
            scheme, opts = settings[i]
            found = prepared[i]
            if isinstance(found, NeurosimError):
                outcome: experiment.Evaluation | NeurosimError = found
            else:
                try:
                    outcome = experiment.evaluate(
                        net,
                        images,
                        labels,
                        scheme,
                        opts,
                        config,
                        prepared=found,
                        known=known,
                        **{**options, "batch_size": shared_batch(found[0], batch, workers)},
                    )
                except NeurosimError as exc:
                    outcome = exc
            if isinstance(outcome, experiment.Evaluation) and outcome.functional is not None:
                known = [outcome.functional]
                outcome = dataclasses.replace(outcome, functional=None)
            results[i] = outcome  # each index is written by one thread only

    if workers == 1:
        if callable(reference):
            options["reference"] = functools.cache(reference)
        for group in groups:
            run_group(group)
    else:
        # BLAS (the dense kernels' GEMMs) counts its threads per process: its share too.
        with (
            threadpool_limits(threads, user_api="blas"),
            ThreadPoolExecutor(workers, thread_name_prefix="neurosim-settings") as pool,
        ):
            if callable(reference) and any(not isinstance(p, NeurosimError) for p in prepared):
                computing: Future = pool.submit(_with_threads, threads, reference)
                options["reference"] = computing.result
            for future in [pool.submit(run_group, g) for g in groups]:
                future.result()
    return [r for r in results if r is not None]


def _with_threads(threads: int, fn: Callable[[], Any]) -> Any:
    """``fn()`` on ``threads`` Numba threads (this thread's count)."""
    numba.set_num_threads(threads)
    return fn()


def first_error(results: Sequence[experiment.Evaluation | NeurosimError]) -> None:
    """Raise the first ``NeurosimError`` among ``results`` (in settings order), if any."""
    for r in results:
        if isinstance(r, NeurosimError):
            raise r
