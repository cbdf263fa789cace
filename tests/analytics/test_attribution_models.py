"""The attribution models on hand-computed cases, against a Monte-Carlo simulation of the same chain, and against
the reference implementation (the ChannelAttribution package; skipped when it is not installed)."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from analytics.attribution import engine, markov
from analytics.attribution.journeys import Journeys
from analytics.attribution.report import round_to_total


def journeys_of(paths: dict[str, tuple[float, float, float]]) -> Journeys:
    """{"A>B": (conversions, nulls, revenue)} → Journeys (campaign-less touchpoints)."""
    touch: dict[str, int] = {}
    parsed = []
    for text in paths:
        parsed.append(tuple(touch.setdefault(c, len(touch)) for c in text.split(">")))
    touchpoints = [None] * len(touch)
    for name, i in touch.items():
        touchpoints[i] = (name, "")
    values = list(paths.values())
    return Journeys(touchpoints=touchpoints, paths=parsed, conversions=np.array([v[0] for v in values], float),
                    nulls=np.array([v[1] for v in values], float), revenue=np.array([v[2] for v in values], float))


def channel_credit(j: Journeys, model: str, order: int = 1) -> dict[str, tuple[float, float]]:
    prepared = engine.prepare(j, order=order)
    credit = engine.attribute(prepared, model)
    conv, rev = engine.by_channel(prepared, credit.conversions), engine.by_channel(prepared, credit.revenue)
    return {c: (float(conv[i]), float(rev[i])) for i, c in enumerate(prepared.channels)}


def assert_credit(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for channel, values in expected.items():
        assert actual[channel] == pytest.approx(values), channel


class TestHandComputed:
    def test_removal_effects_of_a_two_channel_chain(self):
        # start→A (1), start→B (1), A→B (1), B→conv (1), B→null (1): P(conv) = ½·1·½ + ½·½ = ½.
        # Without A: ½·½ = ¼ → RE_A = ½. Without B: 0 → RE_B = 1. Credit ∝ RE: A ⅓, B ⅔.
        j = journeys_of({"A>B": (1, 0, 30.0), "B": (0, 1, 0.0)})
        prepared = engine.prepare(j)
        credit = engine.attribute(prepared, "data_driven")
        details = credit.channel_details
        assert details["conversion_probability"] == pytest.approx(0.5)
        assert dict(zip(prepared.channels, details["removal_effect"], strict=False)) == pytest.approx({"A": 0.5, "B": 1.0})
        assert channel_credit(j, "data_driven") == {"A": pytest.approx((1 / 3, 10.0)),
                                                    "B": pytest.approx((2 / 3, 20.0))}

    def test_value_removal_effects_weigh_conversions_by_the_state_they_leave_from(self):
        # Two converting paths ending in different channels with different order values.
        # E = ½·100 + ½·10 = 55 per journey; without A: 5 (REV_A = 1 − 5/55), without B: 50 (REV_B = 1 − 50/55).
        j = journeys_of({"A": (1, 0, 100.0), "B": (1, 0, 10.0)})
        prepared = engine.prepare(j)
        credit = engine.attribute(prepared, "data_driven")
        value_effects = dict(zip(prepared.channels, credit.channel_details["removal_effect_value"], strict=False))
        assert value_effects == pytest.approx({"A": 50 / 55, "B": 5 / 55})
        result = channel_credit(j, "data_driven")
        assert result["A"] == pytest.approx((1.0, 110 * (50 / 55) / (55 / 55)))
        assert result["B"][1] == pytest.approx(110 * (5 / 55))

    def test_rule_based_models(self):
        j = journeys_of({"A>B>C>D": (1, 0, 100.0), "B": (2, 0, 40.0), "C>A": (0, 3, 0.0)})
        assert_credit(channel_credit(j, "last_click"), {"A": (0, 0), "B": (2, 40), "C": (0, 0), "D": (1, 100)})
        assert_credit(channel_credit(j, "first_click"), {"A": (1, 100), "B": (2, 40), "C": (0, 0), "D": (0, 0)})
        assert_credit(channel_credit(j, "linear"), {"A": (0.25, 25), "B": (2.25, 65), "C": (0.25, 25), "D": (0.25, 25)})
        # 40 % first, 40 % last, 20 % split over the two in between
        assert_credit(channel_credit(j, "position_based"),
                      {"A": (0.4, 40), "B": (2.1, 50), "C": (0.1, 10), "D": (0.4, 40)})

    def test_position_based_with_one_and_two_touchpoints(self):
        j = journeys_of({"A>B": (2, 0, 20.0), "C": (1, 0, 5.0)})
        assert_credit(channel_credit(j, "position_based"), {"A": (1, 10), "B": (1, 10), "C": (1, 5)})

    def test_repeated_touchpoints_count_per_touch_in_linear_and_collapse_in_the_chain(self):
        j = journeys_of({"A>A>B": (3, 0, 30.0)})
        assert_credit(channel_credit(j, "linear"), {"A": (2, 20), "B": (1, 10)})
        structure = engine.prepare(j).chain("channel")
        assert structure.states == [(), (0,), (1,)]  # start, A, B: A→A is not a transition

    def test_higher_order_states_are_sliding_windows(self):
        j = journeys_of({"A>B>C": (1, 0, 0.0), "A": (0, 1, 0.0)})
        prepared = engine.prepare(j, order=2)
        names = prepared.channels
        states = [tuple(names[i] for i in state) for state in prepared.chain("channel").states]
        assert states == [(), ("A", "B"), ("B", "C"), ("A",)]

    def test_shapley_of_two_channels(self):
        # start→A ¾, start→B ¼; A→B ⅓, A→conv ⅙; B→conv ¼.
        # v(∅) = 0, v({A}) = ¾·⅙ = ⅛, v({B}) = ¼·¼ = 1/16, v({A,B}) = ¾(⅙ + ⅓·¼) + ¼·¼ = ¼ (the observed rate)
        # φ_A = ½·v(A) + ½·(v(AB) − v(B)) = 5/32, φ_B = ½·v(B) + ½·(v(AB) − v(A)) = 3/32.
        j = journeys_of({"A": (1, 3, 10.0), "A>B": (1, 1, 10.0), "B": (0, 2, 0.0)})
        prepared = engine.prepare(j)
        structure = prepared.chain("channel1")
        counts = markov.chain_counts(structure, j.conversions, j.nulls, j.revenue)
        v_conv, _ = markov._coalition_values(structure, counts)
        index = {c: i for i, c in enumerate(prepared.channels)}
        a, b = 1 << index["A"], 1 << index["B"]
        assert [v_conv[0], v_conv[a], v_conv[b], v_conv[a | b]] == pytest.approx([0, 1 / 8, 1 / 16, 1 / 4])
        phi, _ = markov.shapley_values(structure, counts)
        assert phi[index["A"]] == pytest.approx(5 / 32) and phi[index["B"]] == pytest.approx(3 / 32)
        credit = channel_credit(j, "shapley")
        assert credit["A"][0] == pytest.approx(2 * 5 / 8) and credit["B"][0] == pytest.approx(2 * 3 / 8)

    def test_symmetric_channels_get_equal_credit_in_every_model(self):
        j = journeys_of({"A>B": (5, 2, 50.0), "B>A": (5, 2, 50.0)})
        for model in engine.MODELS:
            if model == "time_decay":
                continue
            credit = channel_credit(j, model)
            assert credit["A"] == pytest.approx(credit["B"]), model


def test_round_to_total_keeps_the_sum():
    values = [1 / 3, 1 / 3, 1 / 3]
    assert round_to_total(values, 1.0) == [0.34, 0.33, 0.33]
    rounded = round_to_total([0.123456, 5.5555, 2.2222], 7.901156)
    assert sum(rounded) == pytest.approx(7.9)


# --- against simulation -------------------------------------------------------------------------


def simulated_paths(n: int, seed: int, *, channels: str = "ABCDE") -> Journeys:
    """Journeys drawn from a random first-order chain (self-loops dropped, at most 12 steps)."""
    rng = np.random.default_rng(seed)
    k = len(channels)
    moves = rng.dirichlet(np.ones(k + 2), size=k)  # to each channel, conversion, null
    start = rng.dirichlet(np.ones(k))
    values = rng.uniform(20, 90, k)
    paths: dict[tuple, list] = {}
    for _ in range(n):
        state = rng.choice(k, p=start)
        path = [state]
        while True:
            nxt = rng.choice(k + 2, p=moves[state])
            if nxt == k:
                outcome = (1, 0, values[state] * rng.uniform(0.5, 1.5))
                break
            if nxt == k + 1 or len(path) >= 12:
                outcome = (0, 1, 0.0)
                break
            if nxt != state:
                path.append(nxt)
            state = nxt
        entry = paths.setdefault(tuple(path), [0, 0, 0.0])
        for i in range(3):
            entry[i] += outcome[i]
    return journeys_of({">".join(channels[i] for i in p): tuple(v) for p, v in paths.items()})


def monte_carlo_removal_effects(structure, counts, runs: int, seed: int) -> np.ndarray:
    """P(the journey visited channel c | it converted), by simulating the chain."""
    rng = np.random.default_rng(seed)
    q = counts.q.toarray()
    n = structure.size
    cumulative = np.cumsum(np.hstack([q, counts.r[:, None], (1 - q.sum(axis=1) - counts.r)[:, None]]), axis=1)
    visited_in_conversions = np.zeros(structure.channels)
    conversions = 0
    for _ in range(runs):
        state, seen = 0, np.zeros(structure.channels, dtype=bool)
        for _ in range(200):
            nxt = int(np.searchsorted(cumulative[state], rng.random(), side="right"))
            if nxt >= n:
                break
            state = nxt
            seen |= structure.members[state]
        if nxt == n:
            conversions += 1
            visited_in_conversions += seen
    return visited_in_conversions / conversions


@pytest.mark.parametrize("order", [1, 2])
def test_exact_removal_effects_match_a_monte_carlo_simulation_of_the_same_chain(order):
    j = simulated_paths(4000, seed=7, channels="ABCD")
    prepared = engine.prepare(j, order=order)
    structure = prepared.chain("channel")
    channel_counts = (prepared.to_channel_paths @ j.conversions, prepared.to_channel_paths @ j.nulls,
                      prepared.to_channel_paths @ j.revenue)
    counts = markov.chain_counts(structure, *channel_counts)
    exact = markov.removal_effects(structure, counts)["re_conv"]
    simulated = monte_carlo_removal_effects(structure, counts, runs=20000, seed=1)
    assert np.abs(exact - simulated).max() < 0.02  # ~3 standard errors of 20,000 simulated journeys


@contextlib.contextmanager
def quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@pytest.mark.parametrize("order", [1, 2, 3])
def test_data_driven_agrees_with_the_channelattribution_package(order):
    with quiet():
        ca = pytest.importorskip("ChannelAttribution")
    pandas = pytest.importorskip("pandas")
    j = simulated_paths(20000, seed=3)
    prepared = engine.prepare(j, order=order)
    names = prepared.channels
    frame = pandas.DataFrame({
        "path": [" > ".join(j.touchpoints[t][0] for t in path) for path in j.paths],
        "conv": j.conversions, "value": j.revenue, "null": j.nulls})
    with quiet():
        reference = ca.markov_model(frame, "path", "conv", var_value="value", var_null="null", order=order,
                                    verbose=0, flg_pro=False, nsim_start=3e5, conv_par=0.01, seed=11)
    reference = reference.set_index("channel_name")
    ours = engine.attribute(prepared, "data_driven")
    our_conv, our_rev = engine.by_channel(prepared, ours.conversions), engine.by_channel(prepared, ours.revenue)
    theirs_conv = np.array([reference.loc[c, "total_conversions"] for c in names])
    theirs_rev = np.array([reference.loc[c, "total_conversion_value"] for c in names])
    # The package simulates journeys (and stops them at the longest observed path): agreement within 1.5 % of
    # the totals is agreement within its simulation noise.
    assert np.abs(our_conv - theirs_conv).max() / j.total_conversions < 0.015
    assert np.abs(our_rev - theirs_rev).max() / j.total_revenue < 0.015


def test_rule_models_agree_with_the_channelattribution_package():
    with quiet():
        ca = pytest.importorskip("ChannelAttribution")
    pandas = pytest.importorskip("pandas")
    j = simulated_paths(3000, seed=5)
    frame = pandas.DataFrame({"path": [" > ".join(j.touchpoints[t][0] for t in p) for p in j.paths],
                              "conv": j.conversions, "value": j.revenue})
    with quiet():
        reference = ca.heuristic_models(frame, "path", "conv", var_value="value", flg_pro=False)
    reference = reference.set_index("channel_name")
    for model, column in (("first_click", "first_touch"), ("last_click", "last_touch"), ("linear", "linear_touch")):
        ours = channel_credit(j, model)
        for channel, (conv, rev) in ours.items():
            assert conv == pytest.approx(reference.loc[channel, f"{column}_conversions"]), (model, channel)
            assert rev == pytest.approx(reference.loc[channel, f"{column}_value"]), (model, channel)
