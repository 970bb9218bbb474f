"""The file-structure check: header, record boundaries, ragged rows and quoting, in a thread.

Runs beside the statistics pass over the same file, in ``_BLOCK`` byte reads, and maps data
records to physical lines for error messages.
"""

from __future__ import annotations

import _csv
import csv
import io
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import InputError, _mb, log

_BLOCK = 1 << 20  # bytes read at a time by the structure check (fits in a core's cache)
_MAX_RECORD = 64 << 20  # a record (or quoted field) longer than this is rejected
_QUOTE, _COMMA, _NEWLINE = ord('"'), ord(","), ord("\n")
_NOT_SPECIAL = bytes(sorted(set(range(256)) - {_QUOTE, _COMMA, _NEWLINE}))  # for bytes.translate
# --------------------------------------------------------------------------- file structure


@dataclass
class _Header:
    names: list[str]
    end: int  # byte offset just after the header record
    lines: int  # physical lines the header spans


def _read_header(src: Path, label: str) -> _Header:
    """Parse the first record with the csv module (handles BOM, quotes, CRLF)."""
    raw = _header_bytes(src, label)
    return _Header(names=_header_names(raw, label), end=len(raw), lines=max(1, raw.count(b"\n")))


def _header_bytes(src: Path, label: str) -> bytes:
    """The header record's bytes, through its final newline (all of a file without one)."""
    data = bytearray()
    end = None
    quotes = scanned = 0
    with open(src, "rb") as fh:
        while end is None:
            chunk = fh.read(1 << 16)
            if not chunk:
                break
            data += chunk
            while (newline := data.find(b"\n", scanned)) >= 0:
                quotes += data.count(b'"', scanned, newline)
                scanned = newline + 1
                if quotes % 2 == 0:  # a newline outside quotes ends the header
                    end = scanned
                    break
            if end is None and len(data) > _MAX_RECORD:
                raise InputError(label, "header row too long or has an unbalanced quote", line=1)
    if not data:
        raise InputError(label, "file is empty (0 bytes); a header row is required")
    if end is None:  # header without a final newline
        if data.count(b'"') % 2:
            raise InputError(label, "unbalanced quote in the header row", line=1)
        end = len(data)
    return bytes(data[:end])


def _header_names(raw: bytes, label: str) -> list[str]:
    """The column names in the header record ``raw``: decoded, parsed, non-blank and unique."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(label, f"header is not valid UTF-8 (byte {exc.start})", line=1) from None
    try:
        rows = list(_csv_reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InputError(label, f"malformed header row: {exc}", line=1) from None
    names = rows[0] if rows else []
    if not names:
        raise InputError(label, "header row is blank", line=1)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(label, "duplicate column name in the header", line=1, column=name)
        seen.add(name)
    return names


@dataclass
class _Checkpoint:
    offset: int  # byte offset of a record boundary
    record: int  # 0-based data record starting there
    line: int  # 1-based physical line starting there


class _StructureCheck(threading.Thread):
    """Counts records and checks every record has the header's field count.

    Runs beside the polars pass (which releases the GIL). Polars rejects long rows but pads
    short ones, so this byte-level count is what catches short rows and blank lines.
    """

    def __init__(self, src: Path, label: str, header: _Header, size: int, progress_seconds: float):
        super().__init__(name=f"check:{label}", daemon=True)
        self.src, self.label, self.size, self.progress_seconds = src, label, size, progress_seconds
        self.ncols = len(header.names)
        self.rows = 0
        self.checkpoints = [_Checkpoint(header.end, 0, header.lines + 1)]
        self.error: BaseException | None = None
        self._mask = np.empty(_BLOCK, dtype=bool)  # scratch space of the quote-free count

    def run(self) -> None:
        try:
            self._scan()
        except BaseException as exc:  # reported by the caller after join()
            self.error = exc

    def _scan(self) -> None:
        expected = self.ncols - 1
        point = self.checkpoints[0]
        last_log, logged = time.monotonic(), None
        buf = bytearray(_BLOCK)
        filled = 0  # bytes carried over at the start of buf
        with open(self.src, "rb") as fh:
            fh.seek(point.offset)
            while True:
                if filled == len(buf):  # one record fills the buffer: grow it
                    buf = self._grown(buf, point)
                with memoryview(buf) as view, view[filled:] as free:
                    got = fh.readinto(free)
                eof = not got
                end = filled + got
                cut = end if eof else buf.rfind(b"\n", 0, end) + 1
                counted = self._count_records(buf, cut, eof, point) if cut else None
                if counted is None:  # no complete record yet: read on
                    if eof:
                        break
                    filled = end
                    continue
                cut, records, lines, commas = counted
                if commas != expected * records:
                    raise self._fail(point, "ragged rows")
                self.rows += records
                point = _Checkpoint(point.offset + cut, self.rows, point.line + lines)
                self.checkpoints.append(point)
                now = time.monotonic()
                if now - last_log >= self.progress_seconds:
                    last_log, logged = now, point
                    self._log_progress(point)
                if eof:
                    break
                filled = end - cut
                buf[:filled] = buf[cut:end]
        if logged is not None and logged is not point:  # once progress shows, so does the end
            self._log_progress(point)

    def _grown(self, buf: bytearray, point: _Checkpoint) -> bytearray:
        """``buf``, which one record fills, copied into a buffer twice as long."""
        if len(buf) >= _MAX_RECORD:
            problem = f"record longer than {_MAX_RECORD:,} bytes (or an unbalanced quote)"
            raise InputError(self.label, problem, line=point.line)
        bigger = bytearray(2 * len(buf))
        bigger[: len(buf)] = buf
        return bigger

    def _count_records(
        self, buf: bytearray, cut: int, eof: bool, point: _Checkpoint
    ) -> tuple[int, int, int, int] | None:
        """``(cut, records, lines, commas)`` of the complete records in ``buf[:cut]``.

        ``cut`` (> 0) ends after a newline, or at the end of the file (``eof``). Quoted fields may
        hold newlines and commas, so with quotes ``cut`` moves back to the last record boundary;
        None when there is none, i.e. one record is longer than the buffer.
        """
        if buf.find(b'"', 0, cut) < 0:  # memchr: the common, quote-free case
            if len(self._mask) < cut:
                self._mask = np.empty(len(buf), dtype=bool)
            piece = np.frombuffer(buf, dtype=np.uint8, count=cut)
            commas = _count(piece, _COMMA, self._mask)
            records = lines = _count(piece, _NEWLINE, self._mask)
            del piece  # buf must have no exports when it is resized
        else:
            if eof:
                if buf.count(b'"', 0, cut) % 2:
                    raise InputError(
                        self.label,
                        f"unbalanced quote: a field quoted on or after line {point.line} never ends",
                    )
            elif not (cut := _last_record_end(buf, cut)):
                return None
            # Keep only quotes, commas and newlines; those after an even number of
            # quotes are outside quoted fields.
            special = np.frombuffer(buf[:cut].translate(None, _NOT_SPECIAL), dtype=np.uint8)
            outside = ~np.logical_xor.accumulate(special == _QUOTE)
            newline = special == _NEWLINE
            lines = int(np.count_nonzero(newline))
            records = int(np.count_nonzero(newline & outside))
            commas = int(np.count_nonzero((special == _COMMA) & outside))
            del special, outside, newline
        if eof and buf[cut - 1] != _NEWLINE:
            records += 1  # last record without a final newline
        return cut, records, lines, commas

    def _log_progress(self, point: _Checkpoint) -> None:
        log.info(
            "%s: checked %s rows, %s of %s MB",
            self.label,
            f"{point.record:,}",
            _mb(point.offset),
            _mb(self.size),
        )

    def _fail(self, point: _Checkpoint, problem: str) -> InputError:
        found = _diagnose(self.src, self.label, self.ncols, point, stop_after_bytes=_BLOCK + _MAX_RECORD)
        return found or InputError(self.label, f"{problem} after line {point.line - 1}")

    def line_of(self, record: int) -> int:
        """1-based physical line where 0-based data record `record` starts."""
        point = max((p for p in self.checkpoints if p.record <= record), key=lambda p: p.record)
        with open(self.src, "rb") as fh:
            fh.seek(point.offset)
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
            reader = _csv_reader(text)
            before = 0
            for _ in range(record - point.record):
                next(reader, None)
                before = reader.line_num
        return point.line + before


def _csv_reader(text: Iterable[str], strict: bool = False) -> _csv.Reader:
    """csv.reader that takes fields up to _MAX_RECORD (the module's default stops at 128 KiB)."""
    csv.field_size_limit(_MAX_RECORD)  # process-wide, and only ever raised
    return csv.reader(text, strict=strict)


def _last_record_end(buf: bytes | bytearray, cut: int) -> int:
    """Offset after the last newline outside quotes in buf[:cut] (which ends with one), or 0."""
    newline = cut - 1
    odd = buf.count(b'"', 0, newline) % 2
    while odd:  # that newline is inside a quoted field: step back one line
        previous = buf.rfind(b"\n", 0, newline)
        if previous < 0:
            return 0
        odd ^= buf.count(b'"', previous, newline) % 2
        newline = previous
    return newline + 1


def _count(data: np.ndarray, byte: int, out: np.ndarray) -> int:
    """Occurrences of byte in data, using out (at least as long) as scratch space."""
    return int(np.count_nonzero(np.equal(data, byte, out=out[: len(data)])))


def _diagnose(
    src: Path, label: str, ncols: int, start: _Checkpoint, stop_after_bytes: int | None = None
) -> InputError | None:
    """Find the first bad byte or ragged record from `start` with the csv module (slow path)."""
    limit = None if stop_after_bytes is None else start.offset + stop_after_bytes
    with open(src, "rb") as fh:  # UTF-8 first: the csv pass below needs text
        fh.seek(start.offset)
        line, offset, carry = start.line, start.offset, b""
        while limit is None or offset < limit:
            block = fh.read(_BLOCK)
            data = carry + block
            if not data:
                break
            cut = len(data) if not block else data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            try:
                data[:cut].decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = line + data.count(b"\n", 0, exc.start)
                return InputError(label, f"invalid UTF-8 byte 0x{data[exc.start]:02x}", line=bad)
            line += data.count(b"\n", 0, cut)
            offset += cut
            carry = data[cut:]
            if not block:
                break
    with open(src, "rb") as fh:
        fh.seek(start.offset)
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        reader = _csv_reader(text, strict=True)
        first = 0
        while limit is None or fh.tell() < limit:
            try:
                row = next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                return InputError(label, f"malformed CSV ({exc})", line=start.line + reader.line_num - 1)
            if len(row) != ncols and not (ncols == 1 and not row):
                what = "blank line" if not row else f"{len(row)} field{'' if len(row) == 1 else 's'}"
                return InputError(label, f"{what}; the header has {ncols} fields", line=start.line + first)
            first = reader.line_num
    return None
