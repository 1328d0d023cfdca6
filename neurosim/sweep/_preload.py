"""Imported by the fork server that a sweep's local workers are forked from (``LocalPool``).

Importing it imports the costing modules and loads their compiled kernels once, in the fork
server, so that every forked worker starts with both (this side effect is its purpose).
"""

from neurosim.sweep import run  # noqa: F401  (imports every module a point needs)
from neurosim.timing import pe_array_costs

pe_array_costs.warm_up()
