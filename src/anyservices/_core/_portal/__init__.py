"""One event-loop thread per backend, shared by every sync face.

Modules, one concern each: ``_call`` (what crosses between a calling thread and the
loop), ``_portal`` (the :class:`Portal`: its poller on the loop and how callers wait),
``_asyncio`` and ``_trio`` (each backend's serve loop), ``_adapters`` (``with`` blocks
and iterators for the sync faces), ``_registry`` (the shared portal per backend).

``Portal.call`` runs a coroutine function on the portal's loop and blocks the calling
thread until it finishes. On a small VM the dominant cost is waking a sleeping thread
(~20 µs: its vCPU has halted), and under the GIL a thread also sleeps whenever it wants
the GIL while the other thread holds it. So:

* a caller appends its call to a deque (no lock) and parks on its result lock at once.
  (Polling for the result in GIL-free pauses saved its wake-up but took the GIL from
  the loop at every syscall of the call: slower on an idle machine and much slower on a
  busy one, measured in ``_portal.py``);
* on the loop, one *poller* task watches the deque. For ``_LOOP_SPIN`` after the last
  call it stays hot, waiting in pauses that release the GIL but keep the CPU busy while
  no call is in flight; then it blocks in the selector, and the next caller wakes it
  thread-safely. It yields the CPU after each call, in case the scheduler put its caller
  on the same one.

The spin is bounded, so an idle portal costs no CPU and a busy machine no livelock.
``sys.setswitchinterval`` is left alone.

The poller runs each call inline: most calls finish without suspending, and then no task,
coroutine or generator was created or switched to (``Call.first_step``). When a call
first suspends, the poller stays with that call, so every call in flight has a task of
its own and concurrent callers' calls overlap. If calls are queued, they get a task each
and a new worker task polls; if none are, none is started: the first worker done with
its call polls on (so a lone caller's next call finds the poller hot, and a call that
waits for I/O costs no task), and a caller that queues a call meanwhile wakes the loop,
which starts a poller. Each call runs in its own copy of its
calling thread's context, as a task started there would: it sees the caller's context
variables (an OpenTelemetry span, say) and what it sets does not leak back. The plain
functions a call asks its caller thread to run (``call_user``) run in a copy of the
asking task's context, as they would inline on an async face.

Calls are independent: an exception (even ``KeyboardInterrupt``) in one call is
re-raised in its caller only; a caller interrupted while waiting cancels its call (by
cancelling the worker task running it, which then ends) and leaves the portal running
for everybody else.
"""

from ._call import current_waiter as current_waiter
from ._call import run_in_caller as run_in_caller
from ._portal import Backend as Backend
from ._portal import Portal as Portal
from ._registry import acquire_portal as acquire_portal
from ._registry import release_portal as release_portal

__all__ = (
    "Backend",
    "Portal",
    "acquire_portal",
    "current_waiter",
    "release_portal",
    "run_in_caller",
)
