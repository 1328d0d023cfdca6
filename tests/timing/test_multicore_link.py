"""The multi-core model's mesh link against a capacity-1 ``simpy.Resource``: the same grants at
the same times, in the same order, and the same number of SimPy events."""

from __future__ import annotations

import numpy as np
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from simpy.core import EmptySchedule

from neurosim.timing.multicore import _Link


def _contend(make, plan: list[tuple[int, int, int]]) -> tuple[list[tuple[int, int, str]], int]:
    """Processes that wait ``delay`` cycles, request the link, hold it ``hold`` cycles (0: release
    at once), release it and yield once more in the same cycle, ``repeat`` times: the (time,
    process, what) log in processing order and the number of ``env.step`` calls."""
    env = simpy.Environment()
    link = make(env)
    log: list[tuple[int, int, str]] = []

    def proc(p: int, delay: int, hold: int, repeat: int):
        yield env.timeout(delay)
        for _ in range(repeat):
            req = link.request()
            yield req
            log.append((int(env.now), p, "granted"))
            if hold:
                yield env.timeout(hold)
            link.release(req)
            log.append((int(env.now), p, "released"))
            yield env.timeout(0)  # resumes between same-cycle events: their order shows
            log.append((int(env.now), p, "settled"))

    for p, (delay, hold, repeat) in enumerate(plan):
        env.process(proc(p, delay, hold, repeat))
    steps = 0
    try:
        while True:
            env.step()
            steps += 1
    except EmptySchedule:
        pass
    return log, steps


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_link_grants_like_a_capacity_one_resource(seed):
    rng = np.random.default_rng(seed)
    plan = [
        (int(rng.integers(0, 4)), int(rng.integers(0, 3)), int(rng.integers(1, 4)))
        for _ in range(int(rng.integers(1, 7)))
    ]
    want = _contend(lambda env: simpy.Resource(env, capacity=1), plan)
    got = _contend(_Link, plan)
    assert got == want
    assert got[1] >= 2 * sum(r for _, _, r in plan)  # a request and a release event per hold


def test_link_queue_is_first_come_first_served():
    """Three processes asking at cycle 0 for 5 cycles each hold the link in turn: 0, 5, 10."""
    log, steps = _contend(_Link, [(0, 5, 1)] * 3)
    assert [t for t, _, what in log if what == "granted"] == [0, 5, 10]
    assert [p for _, p, what in log if what == "granted"] == [0, 1, 2]
    # per process: its start, the delay, the request, the hold, the release, the same-cycle
    # yield and its end
    assert steps == 3 * 7
