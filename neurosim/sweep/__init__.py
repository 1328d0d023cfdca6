"""Architecture sweeps: many hardware points (and conversion settings), one functional pass.

Imports ``experiment``, ``hw``, ``mapping``, ``qann``, ``timing``, ``energy``, ``io``,
``report`` (plots), ``_files`` and ``errors``. ``spec.py`` reads ``*.sweep.toml``;
``constraints.py`` parses and evaluates the constraint grammar; ``points.py`` draws the points
(grid, random, Latin hypercube) and applies constraints; ``run.py`` runs them and finds the
Pareto front; ``pool.py`` holds the executors (in-process, local processes or
dask.distributed); ``store.py`` keeps results resumable in the output folder; ``_preload.py``
warms the fork server of the workers.
"""

from neurosim.sweep.constraints import Constraint, aliases
from neurosim.sweep.points import Point, generate_points, point_key
from neurosim.sweep.run import (
    PointWorker,
    SweepProgress,
    SweepResult,
    pareto_front,
    point_metrics,
    run_sweep,
    save_plots,
)
from neurosim.sweep.spec import (
    ENGINES,
    MODES,
    Axis,
    SweepSpec,
    list_specs,
    load_spec,
    scheme_options,
)
from neurosim.sweep.store import metric_columns, spec_identity

__all__ = [
    "ENGINES",
    "MODES",
    "Axis",
    "Constraint",
    "Point",
    "PointWorker",
    "SweepProgress",
    "SweepResult",
    "SweepSpec",
    "aliases",
    "generate_points",
    "list_specs",
    "load_spec",
    "metric_columns",
    "pareto_front",
    "point_key",
    "point_metrics",
    "run_sweep",
    "save_plots",
    "scheme_options",
    "spec_identity",
]
