"""Shared matching helpers for the node-agent recognisers: which binary a container runs.

Recognisers match on what the container runs and how it is configured, not only on the image's
last path segment: a mirrored or rebuilt image keeps its binary and flags.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext


def runs_binary(ctx: AgentContext, *names: str) -> bool:
    """True when a container's command or args name one of the binaries ``names``, by its file
    name (``/usr/bin/kured`` is ``kured``), also as a ``sh -c "exec kured …"`` word."""
    for container in ctx.workload.containers:
        for word in (*container.command, *container.args):
            for token in word.split():
                if token.rsplit("/", 1)[-1] in names:
                    return True
    return False


def images_or_binary(ctx: AgentContext, images: tuple[str, ...], binaries: tuple[str, ...]) -> bool:
    """The image (see :meth:`AgentContext.image_matches`) or the binary identifies the agent."""
    return ctx.image_matches(*images) or runs_binary(ctx, *binaries)

