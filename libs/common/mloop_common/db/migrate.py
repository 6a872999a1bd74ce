"""`python -m mloop_common.db.migrate [upgrade|revision -m MSG]`: the one migration step.

Services never migrate on start; `make run` and the compose `migrate` job run this first.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str | None = None) -> None:
    command.upgrade(alembic_config(url), "head")


def main(argv: list[str]) -> None:
    if argv[:1] == ["revision"]:
        message = argv[argv.index("-m") + 1] if "-m" in argv else "change"
        command.revision(alembic_config(), message=message, autogenerate=True)
    else:
        upgrade()


if __name__ == "__main__":
    main(sys.argv[1:])
