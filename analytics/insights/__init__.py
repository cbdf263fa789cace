"""Insights from the data (response curves, anomalies, fatigue, pacing, signal health) and the what-if simulator."""
from .selectors import INSIGHT_TYPES, insights_list
from .whatif import what_if_simulate

__all__ = ["INSIGHT_TYPES", "insights_list", "what_if_simulate"]
