"""Model-call slots shared by processes: bounded, and freed by the kernel when a holder dies."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import time
from pathlib import Path
from typing import Any

from aural.config import Settings, usable_cores
from aural.jobs.isolation import call_slots
from aural.jobs.slots import FileSlots


def _hold_forever(slots: FileSlots, holding: Any) -> None:
    slots.acquire()
    holding.set()
    time.sleep(3600)


def _take_and_give_back(directory: Path, got: threading.Event) -> None:
    slots = FileSlots(directory, 1)
    slots.acquire()
    got.set()
    slots.release()


def test_no_more_holders_than_slots_across_threads(tmp_path: Path) -> None:
    slots = FileSlots(tmp_path, 2)
    inside, most = 0, 0
    lock = threading.Lock()

    def piece() -> None:
        nonlocal inside, most
        slots.acquire()
        try:
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1
        finally:
            slots.release()

    threads = [threading.Thread(target=piece) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 2


def test_a_killed_holder_does_not_take_its_slot_with_it(tmp_path: Path) -> None:
    slots = pickle.loads(pickle.dumps(FileSlots(tmp_path, 1)))  # as sent to a spawned worker
    context = multiprocessing.get_context("spawn")
    holding = context.Event()
    holder = context.Process(target=_hold_forever, args=(slots, holding))
    holder.start()
    try:
        assert holding.wait(60), "the child never took the slot"
        got = threading.Event()
        waiter = threading.Thread(target=_take_and_give_back, args=(tmp_path, got), daemon=True)
        waiter.start()
        waiter.join(0.5)
        assert not got.is_set(), "a second holder got the only slot"
        holder.kill()
        waiter.join(10)
        assert got.is_set(), "the dead child's slot was not freed"
    finally:
        holder.kill()
        holder.join()


def test_a_server_has_a_slot_per_core_whatever_its_processes_model_workers(tmp_path: Path) -> None:
    """With one model worker per engine process, the processes still share every core."""
    one_each = Settings(data_dir=tmp_path, model_workers=1, cpu_threads=1)
    assert call_slots(one_each).count == usable_cores()
    two_threads = Settings(data_dir=tmp_path, cpu_threads=2)
    assert call_slots(two_threads).count == max(1, usable_cores() // 2)
