"""Hardware descriptions: ``load(name_or_path) -> HwConfig`` and the config dataclasses.

Owns the hardware-description layer (step 4 of the flow); imports only ``neurosim.errors``.
Shipped descriptions live in ``hwconfigs/`` (package ``neurosim.hwconfigs``).
"""

from neurosim.hw.config import (
    FAMILIES,
    FAMILY_NAMES,
    BufferConfig,
    ClockConfig,
    CoreConfig,
    DatapathConfig,
    DramConfig,
    HwConfig,
    MeshConfig,
    Meta,
    MulticoreConfig,
    MulticoreDatapathConfig,
    NeuronUnitConfig,
    NocConfig,
    PEArrayConfig,
    PEConfig,
    SyncConfig,
    config_reference,
    field_paths,
)
from neurosim.hw.load import (
    from_dict,
    list_configs,
    load,
    replace_field,
    replace_fields,
    to_dict,
    validate,
)

__all__ = [
    "FAMILIES",
    "FAMILY_NAMES",
    "BufferConfig",
    "ClockConfig",
    "CoreConfig",
    "DatapathConfig",
    "DramConfig",
    "HwConfig",
    "MeshConfig",
    "Meta",
    "MulticoreConfig",
    "MulticoreDatapathConfig",
    "NeuronUnitConfig",
    "NocConfig",
    "PEArrayConfig",
    "PEConfig",
    "SyncConfig",
    "config_reference",
    "field_paths",
    "from_dict",
    "list_configs",
    "load",
    "replace_field",
    "replace_fields",
    "to_dict",
    "validate",
]
