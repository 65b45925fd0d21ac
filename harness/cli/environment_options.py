"""The options of `harness sweep` that choose where a task's trials run (harness.environments)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from harness.environments import AGENT_PLACES, ENVIRONMENTS, VERIFIER_LIMITS

F = TypeVar("F", bound=Callable[..., Any])
KEYS = ("environment", "agent_on", "verifier_limits", "pull", "skip_broken_images")


def environment_options(f: F) -> F:
    options = [
        click.option("--environment", type=click.Choice(ENVIRONMENTS), default="host", show_default=True,
                     help="host: the task's scripts on this machine; podman: the task's own image "
                          "(environment/Dockerfile or docker_image) with Harbor's lifecycle; auto: "
                          "podman for tasks that have an image when podman is installed."),
        click.option("--agent-on", type=click.Choice(AGENT_PLACES), default="container", show_default=True,
                     help="podman: run the agent in the container, or on the host (it gets the "
                          "container's name as {container} and $HARNESS_CONTAINER)."),
        click.option("--verifier-limits", type=click.Choice(VERIFIER_LIMITS), default="none",
                     show_default=True,
                     help="podman: the verifier's limits: none (lifted to max, it judges the work) "
                          "or same (Harbor's)."),
        click.option("--pull", is_flag=True, help="podman: pull each task's docker_image instead of "
                                                  "building environment/."),
        click.option("--skip-broken-images", is_flag=True,
                     help="podman: sweep without the tasks whose image cannot be made ready."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def pick(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The environment options out of a command's keyword arguments."""
    return {k: kwargs.pop(k) for k in KEYS}
