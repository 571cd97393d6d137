"""Alembic migrations of the task store (``script_location = aural:migrations``).

Applied by :mod:`aural.jobs.migrate` (``TaskStore.create_schema()`` and ``aural db upgrade``);
see ``docs/configuration.md`` ("Schema migrations") for adding a revision.
"""
