"""The link's sync tasks (consumer offsets, new topics, topic configs, ACLs)."""

from __future__ import annotations

from collections.abc import Sequence

# A task's message names at most this many items of a list; the rest are counted.
SHOWN_ITEMS = 10


def shown(items: Sequence[str], separator: str = ", ") -> str:
    """The first SHOWN_ITEMS items, then how many more there are."""
    text = separator.join(items[:SHOWN_ITEMS])
    return text + (f" and {len(items) - SHOWN_ITEMS} more" if len(items) > SHOWN_ITEMS else "")
