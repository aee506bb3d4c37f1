"""``waveguard risk``: a Monte-Carlo sweep of a rollout plan over what is uncertain.

Each sample draws a world (:mod:`.assumptions`: object sizes and counts, pod churn, the agents'
start rate and back-off, the change's real cost), rolls the plan out on it in the simulator with
the plan's gates (:mod:`.sample`), and :mod:`.summary` turns the outcomes into the probability
that a production control plane saturates, the blast radius, which gate halts, and which
assumption drives the risk — with 95 % intervals. :mod:`.executors` runs the samples in this
process, on a local process pool or on Ray; :mod:`.budget` lengthens a plan until its risk fits
a budget.
"""

from waveguard.risk.assumptions import BASES, Uncertainty
from waveguard.risk.sample import SampleOutcome, SweepInputs, run_sample
from waveguard.risk.summary import Estimate, RiskSummary, summarise
from waveguard.risk.sweep import run_sweep

__all__ = ["BASES", "Estimate", "RiskSummary", "SampleOutcome", "SweepInputs", "Uncertainty", "run_sample",
           "run_sweep", "summarise"]
