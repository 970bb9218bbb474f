"""Streaming S3 uploads: an object's body produced piece by piece, never held whole.

:func:`upload_chunks` hands boto3's managed upload (``upload_fileobj``, from ``s3transfer``,
which boto3 ships and the Lambda runtime includes) a read-only file object over an iterator of
byte strings. A body under ``multipart_chunksize`` (8 MiB) is sent with one ``PutObject``; a
larger one as a multipart upload of 8 MiB parts, of which at most ``MAX_IN_MEMORY_CHUNKS`` (4)
wait in memory at a time, so an upload holds about 40 MiB however large its object.
Multipart uploads need only ``s3:PutObject``; a failed one is aborted when the role allows it,
and otherwise the bucket's lifecycle rule removes its parts after 7 days.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from boto3.s3.transfer import TransferConfig

#: 8 MiB parts (s3transfer's default; S3's minimum part is 5 MiB).
CHUNK_BYTES = 8 * 2**20
#: Parts read ahead of the upload threads; with the part being read, about 40 MiB in memory.
MAX_IN_MEMORY_CHUNKS = 4
#: Threads sending parts: the Lambda formats the next part while earlier ones are sent.
MAX_CONCURRENCY = 4


def transfer_config() -> TransferConfig:
    """The upload's settings: 8 MiB parts, at most 4 in memory, 4 threads (module docstring), and
    s3transfer's own (classic) transfer manager, the one these settings apply to."""
    config = TransferConfig(
        multipart_threshold=CHUNK_BYTES,
        multipart_chunksize=CHUNK_BYTES,
        max_concurrency=MAX_CONCURRENCY,
        preferred_transfer_client="classic",
    )
    config.max_in_memory_upload_chunks = MAX_IN_MEMORY_CHUNKS  # s3transfer's setting; boto3 has no argument
    return config


class ChunkReader:
    """A read-only, non-seekable file object over an iterator of byte strings.

    ``read(size)`` returns exactly ``size`` bytes until the iterator runs out (s3transfer sizes
    multipart parts by what ``read`` returns, and every part but the last must be 5 MiB or more).
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = bytearray()
        self._done = False
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left for ``None`` or a negative size); ``b""`` at the end."""
        want = None if size is None or size < 0 else size
        while not self._done and (want is None or len(self._pending) < want):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._pending += chunk
        if want is None or want >= len(self._pending):
            data = bytes(self._pending)
            self._pending.clear()
        else:
            with memoryview(self._pending) as view:
                data = bytes(view[:want])  # one copy, not a bytearray slice and then bytes
            del self._pending[:want]
        self.bytes_read += len(data)
        return data


def upload_chunks(s3: Any, bucket: str, key: str, chunks: Iterable[bytes], content_type: str) -> int:
    """Upload the concatenation of ``chunks`` to ``s3://bucket/key``; returns its size in bytes."""
    body = ChunkReader(chunks)
    s3.upload_fileobj(body, bucket, key, ExtraArgs={"ContentType": content_type}, Config=transfer_config())
    return body.bytes_read
