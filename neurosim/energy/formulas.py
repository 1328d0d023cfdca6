"""The papers' energy and operation-count formulas as pure functions (known-answer tests, reports).

Imports ``hw`` (the energy table type) and ``energy.breakdown`` (the default weight width).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurosim.energy.breakdown import DEFAULT_WEIGHT_BITS
from neurosim.hw.energy_table import EnergyTable


def conv_flops(out_size: int, in_channels: int, kernel: int, out_channels: int) -> int:
    """FLOPS_ANN = O²·N·k²·M of a conv layer (MT-SNN eq. 22, after Panda et al. 2020)."""
    return int(out_size) ** 2 * int(in_channels) * int(kernel) ** 2 * int(out_channels)


def mt_snn_eq23(
    flops_ann: float | Sequence[float],
    firing_rates: float | Sequence[float],
    time_steps: int | Sequence[int],
    act_bits: int | Sequence[int],
    table: EnergyTable,
    *,
    weight_bits: int = DEFAULT_WEIGHT_BITS,
) -> tuple[float, float]:
    """(E_SNN, E_ANN) in pJ by MT-SNN eq. 22-23, one value (or sequence entry) per layer.

    E_SNN = E_AC · Σ_l T_l · FLOPS_ANN^l · f_r^l with E_AC = E_add(weight_bits) (T_l inside the
    sum: it varies per layer); E_ANN = Σ_l E_MAC(act_bits^l) · FLOPS_ANN^l with
    E_MAC(n) = E_mult(n × weight_bits) + E_add(weight_bits) = 0.025·n + 0.03 pJ by default.
    """
    flops, rates, steps, bits = np.broadcast_arrays(
        np.atleast_1d(np.asarray(flops_ann, dtype=np.float64)),
        np.atleast_1d(np.asarray(firing_rates, dtype=np.float64)),
        np.atleast_1d(np.asarray(time_steps, dtype=np.float64)),
        np.atleast_1d(np.asarray(act_bits)),
    )
    e_ac = table.op_energy("add", weight_bits)
    e_snn = e_ac * float(np.sum(steps * flops * rates))
    e_ann = sum(
        table.mac_energy(int(b), weight_bits) * float(f)
        for b, f in zip(bits.tolist(), flops.tolist(), strict=True)
    )
    return e_snn, float(e_ann)


def sws_opf(
    coding_steps: int,
    silent_steps: int,
    num_tsa_neurons: int,
    spikes: Sequence[Sequence[float]],
    fan_out: Sequence[float],
) -> float:
    """SWS eq. 10: OPF = (Tc + Ts)·N_TSA + Σ_l Σ_τ f_out^l · n^l(τ).

    ``spikes[l]`` holds layer l's spike counts n^l(τ) over its firing window
    τ ∈ [Ts·l + 1, Ts·l + Tc] and ``fan_out[l]`` its fan-out f_out^l.
    """
    syn = sum(float(f) * float(np.sum(n)) for n, f in zip(spikes, fan_out, strict=True))
    return (int(coding_steps) + int(silent_steps)) * int(num_tsa_neurons) + syn
