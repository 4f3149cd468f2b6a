"""Every Redis key and channel of one queue, named in one place.

All keys share the hash tag ``{q:<name>}``, so the scripts that touch several of
them run on a Redis Cluster too (one slot per queue).
"""

from __future__ import annotations

__all__ = ("GROUP", "QueueKeys")

#: The consumer group every worker of a queue reads with.
GROUP = "workers"


class QueueKeys:
    """Keys under ``[namespace:]{q:<name>}:`` and the namespaced channels."""

    def __init__(self, namespace: str | None, name: str, priority_levels: int) -> None:
        self.namespace = f"{namespace}:" if namespace else ""
        self.prefix = f"{self.namespace}{{q:{name}}}:"
        #: Ready streams, highest priority first (the order the scripts read them in).
        self.streams = [f"{self.prefix}s{level}" for level in reversed(range(priority_levels))]
        self.delayed = f"{self.prefix}delayed"
        self.dead = f"{self.prefix}dead"
        self.workers = f"{self.prefix}workers"
        #: The last tick each periodic schedule fired (schedule name -> ms).
        self.periodic = f"{self.prefix}periodic"
        #: Channels without the namespace (RedisService.subscribe adds it) ...
        self.events_channel = f"{name}:job_events"
        self.control_channel = f"{name}:control"
        #: ... and with it (scripts publish to the full name).
        self.events_full = self.namespace + self.events_channel
        self.control_full = self.namespace + self.control_channel
        #: What both full channel names start with (scripts append the rest).
        self.channels = self.namespace + name

    def job(self, job_id: str) -> str:
        return f"{self.prefix}j:{job_id}"
