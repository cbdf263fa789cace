"""The data-driven model: a k-th order Markov chain over journeys and its channel removal effects, computed exactly.

States are the sliding windows of the last k channels of a path (a shorter path is one state), consecutive
repeats of a state collapse into one (the ChannelAttribution package's construction). Transitions are counted
from the journeys: (start) → first state → … → last state → (conversion) or (null). With Q the transition
probabilities among transient states (start included), r the probabilities of converting from each state and
v̄ the mean conversion value of conversions leaving each state:

    y = (I − Qᵀ)⁻¹ e_start          expected visits to each state from the start
    P = y · r                       probability a journey converts
    E = Σ_s y_s r_s v̄_s             expected conversion value per journey

Removing channel c deletes every state that contains it (transitions into them end in (null)); P₋c and E₋c are
the same quantities on the remaining states. Removal effect RE_c = 1 − P₋c / P (= P(the journey visited c |
it converted)), value removal effect REV_c = 1 − E₋c / E. Attributed conversions of c = observed conversions ×
RE_c / Σ RE, attributed revenue = observed revenue × REV_c / Σ REV — so both sum to the observed totals.
The package estimates the same two quantities by simulating journeys; here they come from linear solves.

`shapley_values` is the optional Shapley model on the same first-order chain: the value of a coalition S of
channels is P (or E) of the chain that keeps only the states of S; every channel's Shapley value is computed
exactly over all 2ⁿ coalitions with batched solves (n ≤ MAX_SHAPLEY_CHANNELS).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

MAX_SHAPLEY_CHANNELS = 12
DENSE_LIMIT = 400  # transient states up to which dense solves are faster than sparse LU


@dataclass
class ChainStructure:
    """The chain's shape for a set of distinct paths; counts come from weights per path, so bootstrap replicates
    only re-weight (`counts`)."""

    states: list[tuple[int, ...]]  # transient states; states[0] = () is the start
    channels: int  # channel ids are 0 … channels-1
    edge_from: np.ndarray  # transitions among transient states: from, to, and the path they belong to
    edge_to: np.ndarray
    edge_path: np.ndarray
    last: sparse.csr_matrix  # n_states × paths: 1 where the path's last state is s
    members: np.ndarray  # n_states × channels bool: the state contains the channel

    @property
    def size(self) -> int:
        return len(self.states)


def chain_structure(paths: list[tuple[int, ...]], *, channels: int, order: int) -> ChainStructure:
    if order == 1 and paths:
        return _first_order_structure(paths, channels=channels)
    index: dict[tuple[int, ...], int] = {(): 0}
    states: list[tuple[int, ...]] = [()]
    edge_rows, edge_cols, last_rows, last_cols = [], [], [], []
    sequences = []
    for p, path in enumerate(paths):
        if len(path) <= order:
            windows = [tuple(path)]
        else:
            windows = [tuple(path[i:i + order]) for i in range(len(path) - order + 1)]
        sequence = [0]
        for window in windows:
            state = index.get(window)
            if state is None:
                state = index[window] = len(states)
                states.append(window)
            if state != sequence[-1]:
                sequence.append(state)
        sequences.append(sequence)
        for a, b in zip(sequence, sequence[1:], strict=False):
            edge_rows.append((a, b))
            edge_cols.append(p)
        last_rows.append(sequence[-1])
        last_cols.append(p)
    n = len(states)
    pairs = np.array(edge_rows, dtype=np.int64).reshape(-1, 2)
    last = sparse.csr_matrix((np.ones(len(last_rows)), (last_rows, last_cols)), shape=(n, len(paths)))
    members = np.zeros((n, channels), dtype=bool)
    for s, window in enumerate(states):
        for channel in window:
            members[s, channel] = True
    return ChainStructure(states=states, channels=channels, edge_from=pairs[:, 0], edge_to=pairs[:, 1],
                          edge_path=np.array(edge_cols, dtype=np.int64), last=last, members=members)


def _first_order_structure(paths: list[tuple[int, ...]], *, channels: int) -> ChainStructure:
    """The same structure for order 1, vectorised (states are the channels; repeats collapse)."""
    lengths = np.fromiter((len(p) for p in paths), dtype=np.int64, count=len(paths))
    flat = np.fromiter(itertools.chain.from_iterable(paths), dtype=np.int64, count=int(lengths.sum()))
    owner = np.repeat(np.arange(len(paths)), lengths)
    starts = np.r_[True, owner[1:] != owner[:-1]]
    keep = starts | (flat != np.r_[-1, flat[:-1]])
    flat, owner, starts = flat[keep], owner[keep], starts[keep]
    present = np.unique(flat)
    state = np.searchsorted(present, flat) + 1
    previous = np.r_[0, state[:-1]]
    previous[starts] = 0
    last_at = np.r_[np.flatnonzero(starts)[1:] - 1, len(state) - 1]
    n = len(present) + 1
    last = sparse.csr_matrix((np.ones(len(last_at)), (state[last_at], owner[last_at])), shape=(n, len(paths)))
    members = np.zeros((n, channels), dtype=bool)
    members[np.arange(1, n), present] = True
    return ChainStructure(states=[()] + [(int(c),) for c in present], channels=channels, edge_from=previous,
                          edge_to=state, edge_path=owner, last=last, members=members)


@dataclass
class ChainCounts:
    q: sparse.csr_matrix  # transition probabilities among transient states
    r: np.ndarray  # probability of converting from each state
    rv: np.ndarray  # r_s × mean conversion value of the state's conversions


def chain_counts(structure: ChainStructure, conversions: np.ndarray, nulls: np.ndarray,
                 revenue: np.ndarray) -> ChainCounts:
    n = structure.size
    weights = (conversions + nulls)[structure.edge_path]
    moves = sparse.coo_matrix((weights, (structure.edge_from, structure.edge_to)), shape=(n, n)).tocsr()
    to_conv = structure.last @ conversions
    to_null = structure.last @ nulls
    value = structure.last @ revenue
    out = np.asarray(moves.sum(axis=1)).ravel() + to_conv + to_null
    safe = np.where(out > 0, out, 1.0)
    q = (sparse.diags(1.0 / safe) @ moves).tocsr()
    return ChainCounts(q=q, r=to_conv / safe, rv=value / safe)


def _visits(q, keep: np.ndarray) -> np.ndarray:
    """Expected visits to each kept state from the start (index 0 of the kept states); q dense or sparse."""
    rhs = np.zeros(len(keep))
    rhs[0] = 1.0
    if isinstance(q, np.ndarray):
        return np.linalg.solve(np.eye(len(keep)) - q[np.ix_(keep, keep)].T, rhs)
    sub = q[keep][:, keep]
    size = sub.shape[0]
    system = (sparse.identity(size, format="csc") - sub.T.tocsc())
    return splu(system).solve(rhs)


def removal_effects(structure: ChainStructure, counts: ChainCounts) -> dict:
    """P, E, and per channel the removal effects on conversions and on value."""
    q = counts.q.toarray() if structure.size <= DENSE_LIMIT else counts.q
    base = _visits(q, np.arange(structure.size))
    p, e = float(base @ counts.r), float(base @ counts.rv)
    re_conv = np.zeros(structure.channels)
    re_value = np.zeros(structure.channels)
    for channel in range(structure.channels):
        keep = ~structure.members[:, channel]
        if keep.all():
            continue
        kept = np.flatnonzero(keep)
        y = _visits(q, kept)
        re_conv[channel] = 1 - float(y @ counts.r[kept]) / p if p > 0 else 0.0
        re_value[channel] = 1 - float(y @ counts.rv[kept]) / e if e > 0 else 0.0
    return {"p": p, "e": e, "re_conv": np.clip(re_conv, 0, 1), "re_value": np.clip(re_value, 0, 1)}


def _coalition_values(structure: ChainStructure, counts: ChainCounts) -> tuple[np.ndarray, np.ndarray]:
    """P and E of every coalition (bit i of the index = channel i kept) of a first-order chain."""
    n_channels = structure.channels
    size = structure.size
    q = counts.q.toarray()
    coalitions = np.arange(2 ** n_channels)
    bits = ((coalitions[:, None] >> np.arange(n_channels)[None, :]) & 1).astype(bool)  # K × C
    state_channel = np.full(size, -1)
    for s, window in enumerate(structure.states[1:], start=1):
        state_channel[s] = window[0]
    keep = np.ones((len(coalitions), size), dtype=bool)
    keep[:, 1:] = bits[:, state_channel[1:]]
    masked = q[None, :, :] * keep[:, :, None] * keep[:, None, :]
    systems = np.eye(size)[None, :, :] - np.transpose(masked, (0, 2, 1))
    rhs = np.zeros((len(coalitions), size, 1))
    rhs[:, 0, 0] = 1.0
    visits = np.linalg.solve(systems, rhs)[:, :, 0] * keep
    return visits @ counts.r, visits @ counts.rv


def shapley_values(structure: ChainStructure, counts: ChainCounts) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values of every channel for the conversion-probability and the value games (order-1 chain)."""
    n = structure.channels
    v_conv, v_value = _coalition_values(structure, counts)
    phi_conv, phi_value = np.zeros(n), np.zeros(n)
    coalitions = np.arange(2 ** n)
    sizes = np.array([bin(c).count("1") for c in coalitions])
    weights = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) if s < n else 0.0
                        for s in range(n + 1)])
    for i in range(n):
        without = coalitions[(coalitions >> i) & 1 == 0]
        w = weights[sizes[without]]
        phi_conv[i] = float(w @ (v_conv[without | (1 << i)] - v_conv[without]))
        phi_value[i] = float(w @ (v_value[without | (1 << i)] - v_value[without]))
    return np.clip(phi_conv, 0, None), np.clip(phi_value, 0, None)


def shares(weights: np.ndarray) -> np.ndarray:
    total = float(weights.sum())
    return weights / total if total > 0 else np.zeros_like(weights)
