"""Uploaded media on disk under the data directory, within a size limit and a storage quota.

Uploads are written chunk by chunk as they arrive; the upload limit and the quota are checked on
every chunk, so an oversized upload is stopped as soon as it passes the limit and never held in
memory. The quota covers stored media and stored results (both accounted in the task rows) plus
uploads still in flight in this process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from aural.jobs.errors import MediaTooLargeError, StorageFullError
from aural.jobs.store import TaskStore

log = logging.getLogger(__name__)


class Upload:
    """One upload being written to ``path``; :meth:`write` enforces the limits."""

    def __init__(self, storage: MediaStorage, path: Path, used_at_start: int) -> None:
        self._storage = storage
        self.path = path
        self.size = 0
        self._used_at_start = used_at_start
        self._file: BinaryIO | None = path.open("wb")
        self._reserved = 0

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raise (and remove the partial file) when a limit would pass."""
        if self._file is None:
            raise RuntimeError("upload already closed")
        new_size = self.size + len(chunk)
        limit = self._storage.max_upload_bytes
        if new_size > limit:
            self.abort()
            raise MediaTooLargeError(
                "Input media file too large.",
                file_size=new_size,
                max_file_size=limit,
                size_unit="bytes",
            )
        if not self._storage.reserve(len(chunk), self._used_at_start):
            self.abort()
            raise StorageFullError(
                "Storage capacity exceeded.",
                quota_bytes=self._storage.quota_bytes,
                size_unit="bytes",
            )
        self._reserved += len(chunk)
        self._file.write(chunk)
        self.size = new_size

    def close(self) -> None:
        """Finish writing; the reservation stays until :meth:`release` (the row counts it)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def release(self) -> None:
        """Drop the in-flight reservation, once the task row accounts for the bytes."""
        self._storage.unreserve(self._reserved)
        self._reserved = 0

    def abort(self) -> None:
        """Stop, remove the partial file and release the reservation."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)
        self.release()

    @contextmanager
    def removed_on_error(self) -> Iterator[None]:
        """Abort the upload if the block raises: a refused request leaves no file behind."""
        try:
            yield
        except BaseException:
            self.abort()
            raise


class MediaStorage:
    """The media folder of the data directory and the accounting of the storage quota."""

    def __init__(
        self, media_dir: Path, store: TaskStore, max_upload_bytes: int, quota_bytes: int
    ) -> None:
        self.media_dir = media_dir
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.max_upload_bytes = max_upload_bytes
        self.quota_bytes = quota_bytes
        self._lock = threading.Lock()
        self._in_flight = 0

    def start_upload(self, name: str) -> Upload:
        """A new upload written to ``media/<name>`` (``name`` is a task id)."""
        return Upload(self, self.media_dir / name, self.store.storage_used())

    def reserve(self, size: int, used_at_start: int) -> bool:
        with self._lock:
            if used_at_start + self._in_flight + size > self.quota_bytes:
                return False
            self._in_flight += size
            return True

    def unreserve(self, size: int) -> None:
        with self._lock:
            self._in_flight -= size

    def remove(self, path: str | None) -> None:
        """Delete a stored media file (missing is fine: deleted twice, or never written)."""
        if path:
            Path(path).unlink(missing_ok=True)

    def sweep_orphans(self, min_age_s: float = 0.0) -> int:
        """Delete media files no pending or running task points at (left by a crash).

        Files younger than ``min_age_s`` are kept: with media shared between API nodes, one
        may be an upload another node is still writing (its row does not exist yet).
        """
        cutoff = time.time() - min_age_s
        keep = self.store.active_media_paths()
        removed = 0
        for path in self.media_dir.iterdir():
            if not path.is_file() or str(path) in keep:
                continue
            try:
                young = path.stat().st_mtime > cutoff
            except FileNotFoundError:
                continue
            if not young:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def purge_expired(self, retention_s: float, now: float | None = None) -> int:
        """Delete tasks (rows, results, media) that finished more than ``retention_s`` ago."""
        cutoff = (now if now is not None else time.time()) - retention_s
        removed = 0
        for record in self.store.expired(cutoff):
            if self.store.delete(record.id) is not None:
                self.remove(record.media_path)
                removed += 1
        if removed:
            log.info("purged %d expired tasks", removed)
        return removed
