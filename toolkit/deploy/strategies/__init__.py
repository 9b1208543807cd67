"""Rollout strategies as pure planning (:mod:`.plan`); ``toolkit.core.rollout`` carries the plans out."""

from __future__ import annotations

from toolkit.deploy.strategies.plan import (Backend, Phase, Step, StepKind, Strategy, StrategyOptions,
                                            load_strategy_file, plan, plan_abort, plan_promote)

__all__ = [
    "Backend",
    "Phase",
    "Step",
    "StepKind",
    "Strategy",
    "StrategyOptions",
    "load_strategy_file",
    "plan",
    "plan_abort",
    "plan_promote",
]
