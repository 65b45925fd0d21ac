"""From measurements to specs: per-task memory and CPU advice read from sweep results."""
