"""The demo job: simulate the embedded default world and run every analysis on it."""

from measure.demo._run import DEMO_PATH, DEMO_SEED, run_demo

__all__ = ["DEMO_PATH", "DEMO_SEED", "run_demo"]
