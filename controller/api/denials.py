"""Failed sign-ins and refused requests in the audit log, without letting a flood fill the disk.

Every failure is counted, but at most `Rate.burst` rows are written at once and then `per_s`
a second, store-wide: past that, failures are only counted, and the next row written carries
how many were left out since the previous one (`detail.unrecorded_before`). So the log still
says that a flood happened and how large it was, while its growth stays bounded whatever the
number of attackers. (Each address's own failures are throttled apart from this: rate_limits.)

Actions: `auth.failed` (an unknown or revoked API token), `auth.denied` (a valid token whose role
is too low), `console.login_failed`; the target is the client's address (`client:10.0.0.7`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiosqlite

from controller.api.rate_limits import Buckets, Rate
from controller.state.audit_repo import append_audit
from controller.state.database import transaction

log = logging.getLogger(__name__)

_STORE = "store"


class DenialLog:
    def __init__(self, rate: Rate) -> None:
        self._rows = Buckets(rate, max_keys=1)
        self.unrecorded = 0  # failures counted but not written since the last row

    async def record(
        self,
        conn: aiosqlite.Connection,
        clock: Callable[[], datetime],
        *,
        actor: str,
        action: str,
        client: str,
        detail: dict[str, Any],
    ) -> bool:
        """Append the failure if the rate allows (True), else only count it."""
        if self._rows.take(_STORE):
            self.unrecorded += 1
            return False
        written = detail | {"unrecorded_before": self.unrecorded} if self.unrecorded else detail
        self.unrecorded = 0
        async with transaction(conn):
            await append_audit(
                conn,
                at=clock(),
                actor=actor,
                action=action,
                target=f"client:{client}",
                detail=written,
            )
        log.info("%s from %s (%s): %s", action, client, actor, detail)
        return True
