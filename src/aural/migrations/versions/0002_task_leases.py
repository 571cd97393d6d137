"""Task leases: the worker's heartbeat, the last dispatch to the queue, and the reaper's index.

``ix_tasks_state_heartbeat_at`` serves ``WHERE state = 'running' AND heartbeat_at < :cutoff``.

Revision ID: 0002_task_leases
Revises: 0001_initial
Create Date: 2025-01-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002_task_leases"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("dispatched_at", sa.Float(), nullable=True))
    op.create_index("ix_tasks_state_heartbeat_at", "tasks", ["state", "heartbeat_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tasks_state_heartbeat_at", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("dispatched_at")
        batch.drop_column("heartbeat_at")
