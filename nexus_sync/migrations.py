"""Apply and check the Alembic migrations shipped with the package."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alembic import command

# a checkout (editable install) keeps alembic/ beside the package; an installed image runs from its workdir
ROOT = next((p for p in (Path(__file__).resolve().parent.parent, Path.cwd()) if (p / "alembic.ini").exists()),
            Path.cwd())


class NotMigrated(RuntimeError):
    pass


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if head is None:  # only a migrations folder without any revision has no head
        raise RuntimeError("alembic/ holds no migration")
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_current(engine: sa.Engine) -> None:
    """Raise NotMigrated unless the database is at the head revision."""
    current = current_revision(engine)
    head = head_revision(engine.url.render_as_string(hide_password=False))
    if current != head:
        raise NotMigrated(
            f"database {engine.url.render_as_string(hide_password=True)} is at revision "
            f"{current or 'none (empty)'}, code needs {head}: run `nexus-sync db upgrade`"
        )
