"""The embedded job system: a task store, media storage, a runner and an in-process executor.

Every HTTP face turns a request into a task row, and every task is run by
:class:`aural.jobs.runner.Runner`; the row in the store is the source of truth.
"""
