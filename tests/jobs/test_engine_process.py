"""Who pays for an engine process's death: the rules behind the shared engine's quarantine (the
real processes, signals and tasks are in test_isolation.py)."""

from __future__ import annotations

from aural.jobs.engine_process import Death


def test_a_task_alone_in_a_dead_process_pays_for_it() -> None:
    death = Death("its worker process died (signal SIGSEGV)", "died", frozenset({"a"}))
    assert death.charges("a")


def test_tasks_beside_others_in_a_process_dead_of_an_unknown_cause_do_not_pay() -> None:
    death = Death("its worker process died (signal SIGSEGV)", "died", frozenset({"a", "b"}))
    assert not death.charges("a") and not death.charges("b")


def test_only_the_task_that_overran_its_time_limit_pays() -> None:
    death = Death("it ran longer than its time limit", "time", frozenset({"a", "b"}), "b")
    assert death.charges("b") and not death.charges("a")
