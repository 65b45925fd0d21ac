"""Where a task's trial runs: ``host`` (the task's scripts on this machine's files, the
harness's original behaviour) or ``podman`` (the task's own image, with Harbor's paths
and lifecycle, the container's cgroup a child of the harness's trial cgroup)."""

ENVIRONMENTS: tuple[str, ...] = ("host", "podman", "auto")
AGENT_PLACES: tuple[str, ...] = ("container", "host")
VERIFIER_LIMITS: tuple[str, ...] = ("none", "same")
