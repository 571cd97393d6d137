"""Task progress: the share of the audio transcribed so far, written by the worker while it runs;
and ``ix_tasks_api_key_id_created_at`` for a key's list of its recent tasks.

Revision ID: 0003_task_progress
Revises: 0002_task_leases
Create Date: 2026-11-29 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003_task_progress"
down_revision: str | Sequence[str] | None = "0002_task_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("progress", sa.Float(), nullable=True))
    op.create_index(
        "ix_tasks_api_key_id_created_at", "tasks", ["api_key_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_api_key_id_created_at", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("progress")
