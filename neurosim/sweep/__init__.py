"""Architecture sweeps: many hardware points (and conversion settings), one functional pass.

Imports ``experiment``, ``hw``, ``mapping``, ``qann``, ``timing``, ``energy``, ``io``,
``report`` (plots), ``_files`` and ``errors``. ``spec.py`` reads ``*.sweep.toml``;
``points.py`` draws the points (grid, random, Latin hypercube) and applies constraints;
``run.py`` runs them (in-process, local processes or dask.distributed), keeps results
resumable and finds the Pareto front; ``_preload.py`` warms the fork server of the workers.
"""

from neurosim.sweep.points import Point, generate_points, point_key
from neurosim.sweep.run import (
    METRIC_COLUMNS,
    PointWorker,
    SweepProgress,
    SweepResult,
    pareto_front,
    point_metrics,
    run_sweep,
    save_plots,
    spec_identity,
)
from neurosim.sweep.spec import (
    ALIASES,
    ENGINES,
    MODES,
    Axis,
    Constraint,
    SweepSpec,
    list_specs,
    load_spec,
    scheme_options,
)

__all__ = [
    "ALIASES",
    "ENGINES",
    "METRIC_COLUMNS",
    "MODES",
    "Axis",
    "Constraint",
    "Point",
    "PointWorker",
    "SweepProgress",
    "SweepResult",
    "SweepSpec",
    "generate_points",
    "list_specs",
    "load_spec",
    "pareto_front",
    "point_key",
    "point_metrics",
    "run_sweep",
    "save_plots",
    "scheme_options",
    "spec_identity",
]
