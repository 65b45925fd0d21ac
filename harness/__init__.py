"""A cgroup-v2 harness for resource sweeps of agentic-coding benchmarks."""

__version__ = "0.1.0"
