"""`python -m mloop_common.prestart`: migrate the database and create the topics.

Run once before the services start (`make run` does; compose runs it as the `migrate` job).
"""

from __future__ import annotations

import asyncio
import logging

from mloop_common.db.migrate import upgrade
from mloop_common.kafka import ensure_topics
from mloop_common.settings import Settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s prestart %(message)s")
    settings = Settings()
    upgrade(settings.require_database())
    asyncio.run(ensure_topics(settings))


if __name__ == "__main__":
    main()
