"""The outbox sender as a process of its own, for tests that kill it: `python -m tests.replies.sender_process
OWNER`, its settings (database, data dir, SMTP lease) from ROUTEDESK_* variables. Runs until killed."""

from __future__ import annotations

import asyncio
import sys

from app.config import Settings
from app.replies.sender import run_sender
from app.runtime import open_runtime


async def main(owner: str) -> None:
    settings = Settings()
    async with open_runtime(settings) as runtime:
        await run_sender(runtime.sessionmaker, settings, runtime.secrets, asyncio.Event(), owner=owner)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
