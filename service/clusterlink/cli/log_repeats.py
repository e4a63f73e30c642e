"""Quiets a library's repeated log lines.

kafka-python logs each failed reconnect of the data path (a broker down, a
refused login) at ERROR or WARNING, several lines per attempt, about once a
second for as long as it lasts. The mirror's status already says what is
wrong; the log needs it once a minute, not thousands of times.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


class RepeatFilter(logging.Filter):
    """Lets a line of a logger under `prefix` through once per `window` seconds;
    lines that differ only in numbers (ports, backoffs, ids) count as the same.
    The next one let through says how many were held back."""

    def __init__(self, prefix: str, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.prefix = prefix
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # key -> (last shown, held back since)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        key = (record.name, record.levelno, _NUMBERS.sub("#", record.getMessage()))
        now = self.clock()
        shown, held = self._seen.get(key, (None, 0))
        if shown is not None and now - shown < self.window:
            self._seen[key] = (shown, held + 1)
            return False
        if len(self._seen) > 1000:  # forget lines not seen for a while: bounded memory
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window}
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} similar line(s) in the last {self.window:.0f}s not shown)"
            record.args = None
        return True
