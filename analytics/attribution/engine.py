"""Every attribution model over the same distinct paths, as credit per touchpoint (channel × campaign).

Rule-based models give each converting journey one conversion of credit, split over its touchpoints:

    last_click      all to the last touchpoint          first_click   all to the first
    linear          1/n to each of the n touchpoints
    position_based  40 % first, 40 % last, 20 % shared by the ones between (one touchpoint: 100 %, two: 50/50)
    time_decay      touchpoint i gets 2^(−age_i / half-life) / Σ_j 2^(−age_j / half-life), age = time before
                    the conversion (computed per journey in SQL)

and revenue in the same proportions (time decay: each journey's own revenue). The data-driven models (Markov
removal effects, Shapley) attribute per channel (markov.py); a channel's credit is split among its campaigns in
proportion to their removal effects in a first-order chain whose states are the campaigns themselves.

Credit depends on the paths' counts only linearly or through the chain, so a bootstrap replicate (re-drawn
counts per path) reuses everything built here (`PreparedPaths`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from . import markov
from .journeys import Journeys

RULE_MODELS = ("last_click", "first_click", "linear", "time_decay", "position_based")
DATA_DRIVEN_MODELS = ("data_driven", "shapley")
MODELS = (*RULE_MODELS, *DATA_DRIVEN_MODELS)


@dataclass
class Credit:
    """Attributed conversions and revenue per touchpoint id; for data-driven models also the channel figures."""

    conversions: np.ndarray
    revenue: np.ndarray
    channel_details: dict = field(default_factory=dict)


@dataclass
class PreparedPaths:
    journeys: Journeys
    order: int
    channels: list[str]
    channel_of: np.ndarray  # per touchpoint id
    channel_paths: list[tuple[int, ...]]
    to_channel_paths: sparse.csr_matrix  # channel paths × paths (counts of a channel path = this @ counts)
    rules: dict[str, tuple[sparse.csr_matrix, sparse.csr_matrix]] = field(default_factory=dict)
    _chains: dict = field(default_factory=dict)

    def chain(self, kind: str) -> markov.ChainStructure:
        """'channel' (the requested order), 'channel1' (first order, Shapley) or 'touchpoint' (campaign split)."""
        if kind not in self._chains:
            if kind == "touchpoint":
                self._chains[kind] = markov.chain_structure(self.journeys.paths,
                                                            channels=len(self.journeys.touchpoints), order=1)
            else:
                order = self.order if kind == "channel" else 1
                self._chains[kind] = markov.chain_structure(self.channel_paths, channels=len(self.channels),
                                                            order=order)
        return self._chains[kind]


def prepare(journeys: Journeys, *, order: int = 1) -> PreparedPaths:
    channels, channel_of = journeys.channel_index()
    channel_at = channel_of.tolist().__getitem__  # Python ints, not numpy scalars touchpoint by touchpoint: 2x
    index: dict[tuple[int, ...], int] = {}
    rows = [index.setdefault(tuple(map(channel_at, path)), len(index)) for path in journeys.paths]
    channel_paths = [None] * len(index)
    for mapped, i in index.items():
        channel_paths[i] = mapped
    n_paths = len(journeys.paths)
    to_channel_paths = sparse.csr_matrix((np.ones(n_paths), (rows, np.arange(n_paths))), shape=(len(index), n_paths))
    return PreparedPaths(journeys=journeys, order=order, channels=channels, channel_of=channel_of,
                         channel_paths=channel_paths, to_channel_paths=to_channel_paths)


def _position_weights(model: str, length: int) -> np.ndarray:
    weights = np.zeros(length)
    if model == "last_click":
        weights[-1] = 1.0
    elif model == "first_click":
        weights[0] = 1.0
    elif model == "linear":
        weights[:] = 1.0 / length
    elif model == "position_based":
        if length == 1:
            weights[0] = 1.0
        elif length == 2:
            weights[:] = 0.5
        else:
            weights[0] = weights[-1] = 0.4
            weights[1:-1] = 0.2 / (length - 2)
    return weights


def _rule_matrices(prepared: PreparedPaths, model: str) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Per path: the credit per conversion (and per unit of revenue) of each touchpoint id."""
    if model in prepared.rules:
        return prepared.rules[model]
    journeys = prepared.journeys
    rows, cols, conv_values, rev_values = [], [], [], []
    for p, path in enumerate(journeys.paths):
        if model == "time_decay":
            conv_w = journeys.decay[p] / journeys.conversions[p] if journeys.conversions[p] > 0 else np.zeros(len(path))
            rev_w = (journeys.decay_revenue[p] / journeys.revenue[p] if journeys.revenue[p] > 0
                     else conv_w)
        else:
            conv_w = rev_w = _position_weights(model, len(path))
        rows.extend([p] * len(path))
        cols.extend(path)
        conv_values.extend(conv_w)
        rev_values.extend(rev_w)
    shape = (len(journeys.paths), len(journeys.touchpoints))
    matrices = (sparse.csr_matrix((conv_values, (rows, cols)), shape=shape),
                sparse.csr_matrix((rev_values, (rows, cols)), shape=shape))
    prepared.rules[model] = matrices
    return matrices


def _campaign_split(prepared: PreparedPaths, conversions, nulls, revenue) -> tuple[np.ndarray, np.ndarray]:
    """Within each channel, each touchpoint id's share of the channel's credit (conversions, revenue)."""
    structure = prepared.chain("touchpoint")
    effects = markov.removal_effects(structure, markov.chain_counts(structure, conversions, nulls, revenue))
    split_conv = np.zeros(len(prepared.channel_of))
    split_value = np.zeros(len(prepared.channel_of))
    for channel in range(len(prepared.channels)):
        members = prepared.channel_of == channel
        for target, source in ((split_conv, effects["re_conv"]), (split_value, effects["re_value"])):
            weights = source[members]
            target[members] = weights / weights.sum() if weights.sum() > 0 else 1.0 / members.sum()
    return split_conv, split_value


def attribute(prepared: PreparedPaths, model: str, *, conversions: np.ndarray | None = None,
              nulls: np.ndarray | None = None, revenue: np.ndarray | None = None,
              campaign_split: tuple[np.ndarray, np.ndarray] | None = None) -> Credit:
    """Credit of `model` for the given counts per path (default: the observed ones)."""
    journeys = prepared.journeys
    conversions = journeys.conversions if conversions is None else conversions
    nulls = journeys.nulls if nulls is None else nulls
    revenue = journeys.revenue if revenue is None else revenue
    if model in RULE_MODELS:
        conv_matrix, rev_matrix = _rule_matrices(prepared, model)
        return Credit(conversions=conv_matrix.T @ conversions, revenue=rev_matrix.T @ revenue)
    to_channel = prepared.to_channel_paths
    channel_counts = (to_channel @ conversions, to_channel @ nulls, to_channel @ revenue)
    total_conv, total_rev = float(conversions.sum()), float(revenue.sum())
    if model == "data_driven":
        structure = prepared.chain("channel")
        effects = markov.removal_effects(structure, markov.chain_counts(structure, *channel_counts))
        conv_weights, value_weights = effects["re_conv"], effects["re_value"]
        details = {"conversion_probability": effects["p"], "value_per_journey": effects["e"],
                   "removal_effect": effects["re_conv"], "removal_effect_value": effects["re_value"],
                   "states": structure.size - 1}
    elif model == "shapley":
        structure = prepared.chain("channel1")
        conv_weights, value_weights = markov.shapley_values(structure, markov.chain_counts(structure, *channel_counts))
        details = {"shapley_value": conv_weights, "states": structure.size - 1}
    else:
        raise ValueError(model)
    channel_conv = total_conv * markov.shares(conv_weights)
    channel_rev = total_rev * markov.shares(value_weights)
    split_conv, split_value = campaign_split or _campaign_split(prepared, conversions, nulls, revenue)
    return Credit(conversions=channel_conv[prepared.channel_of] * split_conv,
                  revenue=channel_rev[prepared.channel_of] * split_value,
                  channel_details=details)


def by_channel(prepared: PreparedPaths, values: np.ndarray) -> np.ndarray:
    return np.bincount(prepared.channel_of, weights=values, minlength=len(prepared.channels))
