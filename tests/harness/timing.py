"""How long the suite waits for anything: one deadline, sized for a loaded CI machine.

CI runs the suite on 2 cores that other jobs keep busy (load average 10 and more): there a
server that imports CatBoost and forks two workers, a scrape, a log line or a script run can
take ten times what it takes on an idle laptop. Every wait in the suite is therefore a *condition*
polled until it holds (a server answering ``/ready``, a metric present, a queue drained), with
this one deadline as the bound: long enough that only a hang reaches it, short enough that a hang
fails the test well inside pytest-timeout's limit. Timing assertions ("X took under N seconds")
have no place in the tests at all; performance is measured in ``bench/``.

``PORTO_TEST_SLOW_MACHINE`` multiplies the deadline (and pytest-timeout's limit, see
``tests/conftest.py``) on a machine slower still, e.g. under emulation.
"""

from __future__ import annotations

import os

SLOW_MACHINE_ENV = "PORTO_TEST_SLOW_MACHINE"


def _slow_machine() -> float:
    raw = os.environ.get(SLOW_MACHINE_ENV) or "1"
    try:
        factor = float(raw)
    except ValueError:
        raise ValueError(f"{SLOW_MACHINE_ENV} must be a number, not {raw!r}") from None
    if factor <= 0:
        raise ValueError(f"{SLOW_MACHINE_ENV} must be positive, not {raw!r}")
    return factor


#: Multiplies every wait (``PORTO_TEST_SLOW_MACHINE``, default 1: the numbers below already
#: assume a loaded 2-core machine).
SLOW_MACHINE = _slow_machine()

#: Seconds any awaited condition gets before the wait fails: a server ready, a process done, a
#: metric scraped, a log line written, a Job completed. Ample on a 2-core box at load 10 (the
#: slowest start, the API with CatBoost and two workers, takes well under a minute there).
DEADLINE = 180.0 * SLOW_MACHINE

#: :data:`DEADLINE` in the milliseconds Playwright counts in.
DEADLINE_MS = int(DEADLINE * 1000)

#: :data:`DEADLINE` as a Go duration, for ``helm --timeout`` and the like.
DEADLINE_GO = f"{DEADLINE:.0f}s"
