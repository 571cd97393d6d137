"""Streaming ``multipart/form-data`` reader: the media part goes straight to disk, chunk by chunk.

Starlette's own form parsing spools the whole upload before the handler runs and knows no size
limit; this reader writes the media part under the data directory as it arrives, stops storing
the moment the upload limit or the storage quota would pass, and keeps every other (small)
field in memory. After a limit is hit the rest of the body is read and thrown away (up to a
bound), so that the client receives the 413/507 instead of a reset connection, and the 413 can
report the real file size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anyio import to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, Request

from aural.api.errors import HTTPError, Location, RequestInvalidError
from aural.jobs.errors import MediaTooLargeError, StorageFullError
from aural.jobs.storage import MediaStorage, Upload

_FLUSH_BYTES = 1024 * 1024
_MAX_FIELD_BYTES = 1024 * 1024  # all non-media fields together
_DRAIN_BYTES = 64 * 1024 * 1024  # read (and drop) at most this much after a limit is hit


@dataclass
class Form:
    """The non-media fields of a form and the stored media upload."""

    upload: Upload
    fields: dict[str, list[str]] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        """The last non-empty value of ``name`` (clients send ``""`` for unset options)."""
        values = [v for v in self.fields.get(name, []) if v != ""]
        return values[-1] if values else None

    def values(self, name: str) -> list[str]:
        return [v for v in self.fields.get(name, []) if v != ""]


def _invalid(message: str, location: Location) -> HTTPError:
    return HTTPError.of(RequestInvalidError(message), location)


class _Reader:
    """python-multipart callbacks; runs in a worker thread because it writes to disk."""

    def __init__(self, storage: MediaStorage, upload_name: str, file_field: str) -> None:
        self.storage = storage
        self.upload_name = upload_name
        self.file_field = file_field
        self.fields: dict[str, list[str]] = {}
        self.upload: Upload | None = None
        self.error: HTTPError | None = None
        self.limit_error: MediaTooLargeError | StorageFullError | None = None
        self.file_bytes = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._target = "skip"
        self._value = bytearray()
        self._field_total = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._target = "skip"

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name != self.file_field:
            self._target = "field"
            self._value = bytearray()
        elif self.upload is None and self.limit_error is None:
            self._target = "file"
            self.upload = self.storage.start_upload(self.upload_name)
        else:
            self._target = "skip"
            self.error = self.error or _invalid(
                f"send one media file in field {self.file_field!r}, not several",
                ["body", self.file_field],
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target == "file":
            self.file_bytes += end - start
            if self.limit_error is None and self.upload is not None:
                try:
                    self.upload.write(data[start:end])
                except (MediaTooLargeError, StorageFullError) as exc:
                    self.limit_error = exc  # the upload removed its partial file
        elif self._target == "field":
            self._field_total += end - start
            if self._field_total > _MAX_FIELD_BYTES:
                self.error = self.error or _invalid(
                    "the form fields other than the media are too large", ["body", self._name]
                )
                self._target = "skip"
            else:
                self._value += data[start:end]

    def on_part_end(self) -> None:
        if self._target == "field":
            text = bytes(self._value).decode("utf-8", "replace")
            self.fields.setdefault(self._name, []).append(text)
        elif self._target == "file" and self.upload is not None and self.limit_error is None:
            self.upload.close()
        self._target = "skip"

    def discard(self) -> None:
        if self.upload is not None:
            self.upload.abort()


async def read_form(
    request: Request, storage: MediaStorage, upload_name: str, file_field: str
) -> Form:
    """Read the multipart body of ``request``; the media field is stored as ``upload_name``.

    Raises :class:`HTTPError` 400 (not multipart, malformed, media missing), 413 (upload over
    the limit, with the file size in the context) or 507 (storage quota).
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise _invalid(
            f"send multipart/form-data with the media file in field {file_field!r}", ["body"]
        )
    declared = _content_length(request)
    limit = storage.max_upload_bytes
    if declared is not None and declared > limit + _MAX_FIELD_BYTES + _DRAIN_BYTES:
        raise _too_large(declared, limit, file_field)  # far too large: do not read it at all
    reader = _Reader(storage, upload_name, file_field)
    parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    buffer = bytearray()
    drained = 0
    complete = True
    try:
        async for chunk in request.stream():
            if reader.limit_error is not None:
                drained += len(chunk)
                if drained > _DRAIN_BYTES:
                    complete = False
                    break
            buffer += chunk
            if len(buffer) >= _FLUSH_BYTES:
                await to_thread.run_sync(parser.write, bytes(buffer))
                buffer.clear()
        if complete:
            if buffer:
                await to_thread.run_sync(parser.write, bytes(buffer))
            parser.finalize()
            if parser.state != MultipartState.END and reader.limit_error is None:
                # python-multipart accepts a body that just stops; a part cut off before its
                # closing boundary is an incomplete upload, not a file to transcribe.
                raise MultipartParseError("the body ends before the closing boundary")
    except MultipartParseError as exc:
        await to_thread.run_sync(reader.discard)
        raise _invalid(f"the multipart body is malformed: {exc}", ["body"]) from exc
    except (Exception, ClientDisconnect):
        await to_thread.run_sync(reader.discard)
        raise
    if reader.limit_error is not None:
        await to_thread.run_sync(reader.discard)
        if isinstance(reader.limit_error, MediaTooLargeError):
            size = reader.file_bytes if complete else max(reader.file_bytes, declared or 0)
            raise _too_large(size, limit, file_field)
        raise HTTPError.of(reader.limit_error, ["body", file_field])
    if reader.error is not None:
        await to_thread.run_sync(reader.discard)
        raise reader.error
    if reader.upload is None:
        raise _invalid(
            f"the media file is missing: send it in multipart field {file_field!r}",
            ["body", file_field],
        )
    return Form(upload=reader.upload, fields=reader.fields)


def _content_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _too_large(size: int, limit: int, file_field: str) -> HTTPError:
    error = MediaTooLargeError(
        "Input media file too large.", file_size=size, max_file_size=limit, size_unit="bytes"
    )
    return HTTPError.of(error, ["body", file_field])
