"""What the public help centre keeps between requests. Built by the runtime, filled by
app.kb.helpcentre; it imports nothing heavy, so processes that never serve the help centre hold one
for free."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.kb.helpcentre import HelpIndex


@dataclass
class HelpCentreCache:
    """One per runtime. The index is labelled with the kb_version it was built at; every request reads
    the current version (one row), so a change made by any process is served from the next request on."""

    index: HelpIndex | None = None
    rebuilding: asyncio.Lock = field(default_factory=asyncio.Lock)
