"""Sweeps: a task suite under a set of resource profiles, many times, crash-safe."""
