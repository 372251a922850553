"""What macro suggestions keep between requests. Built by the runtime, filled by app.macros.ranking; it
imports nothing heavy, so that processes which never suggest (the worker, `routedesk poll`) can hold one
without loading NumPy."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.macros.ranking import History, MacroIndex, TermRow


@dataclass
class SuggestionCache:
    """One per runtime, as a runtime has one engine: ticket and macro ids mean nothing in another
    database. Entries are keyed by what they were built from ((id, updated_at) of the active macros; the
    window of recent uses), read afresh on every request, so any change made by any process is seen at the
    next request, and nothing needs explicit clearing."""

    macros: OrderedDict[Hashable, MacroIndex] = field(default_factory=OrderedDict)
    history: History | None = None  # None until the first request
    rows: dict[int, TermRow] = field(default_factory=dict)  # each past ticket's term counts, by ticket id
