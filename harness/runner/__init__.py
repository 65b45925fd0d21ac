"""Running one workload in one trial cgroup: spawn, watch, end, classify."""
