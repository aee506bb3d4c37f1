"""Checking a gzip or zstd file whole before anything is read from it.

A stream corrupted in the middle decompresses fine up to the damage: a reader that stops there
(DuckDB's, or a line reader) gives partial figures. So every compressed input (audit logs,
saved /metrics files) is decompressed once, to nowhere, before it is read: every member
(gzip) or frame (zstd) must end, and its checksum must match (gzip's CRC-32 and length, RFC
1952 §2.3.1; zstd's XXH64 content checksum when the frame carries one, RFC 8878 §3.1.1). Any
damage is an InputError naming the file and the compressed byte offset, before any output is
written. Costs one decompression pass (gzip ~300 MB/s of output on one core).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, BinaryIO

from waveguard.model.errors import InputError

#: Bytes read per step. 64 KiB: large enough to keep Python's overhead small.
CHUNK_BYTES = 1 << 16
_HINT = "check the file (gzip -t / zstd -t); recompress it or give the uncompressed file"


def sniff(head: bytes) -> str:
    """"gzip", "zstd" or "none" from a file's first bytes (RFC 1952 and RFC 8878 magic numbers)."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


def verify(path: Path, compression: str) -> None:
    """Decompress ``path`` (``compression``: "gzip", "zstd" or "none") to nowhere. Raises
    InputError naming the file and the compressed byte offset of the damage (a bad header or
    block, a checksum mismatch, a stream cut short), or when the file cannot be read."""
    if compression == "none":
        return
    try:
        with path.open("rb") as fh:
            _check_stream(fh, compression, str(path))
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}", hint="check the path and permissions") from None


def verify_bytes(data: bytes, compression: str, source: str) -> bytes:
    """The decompressed ``data`` (in memory: a saved /metrics file), checked as :func:`verify`
    checks a file. Raises InputError naming ``source`` and the offset."""
    import io

    out = bytearray()
    if compression != "none":
        _check_stream(io.BytesIO(data), compression, source, out)
        return bytes(out)
    return data


def _new_decoder(compression: str) -> Any:
    if compression == "gzip":
        return zlib.decompressobj(wbits=31)  # 16 + 15: a gzip member, its CRC-32 and length checked
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


def _check_stream(fh: BinaryIO, compression: str, source: str, out: bytearray | None = None) -> None:
    """Feed ``fh`` through one decoder per member/frame; ``out`` collects the output when given."""
    decoder, offset, pending = _new_decoder(compression), 0, b""
    while True:
        chunk = pending or fh.read(CHUNK_BYTES)
        pending = b""
        if not chunk:
            break
        before = decoder.copy() if compression == "gzip" else None  # to find the exact byte
        try:
            data = decoder.decompress(chunk)
        except Exception as exc:  # zlib.error, zstandard.ZstdError: the damage is in this chunk
            raise _corrupt(source, compression, _damage_offset(before, chunk, offset), exc) from None
        if out is not None:
            out += data
        if not decoder.eof:
            offset += len(chunk)
            continue
        # A member/frame ended: what follows is the next one, zero padding (gzip(1) accepts it), or nothing.
        pending = decoder.unused_data or fh.read(CHUNK_BYTES)
        offset += len(chunk) - len(decoder.unused_data)
        if not pending or (compression == "gzip" and not pending.strip(b"\x00") and not fh.read(1).strip(b"\x00")):
            return
        decoder = _new_decoder(compression)
    if not decoder.eof:
        raise _corrupt(source, compression, offset, "the stream ends before its last block and checksum")


def _damage_offset(before: Any, chunk: bytes, offset: int) -> int:
    """The compressed byte offset of the damage found in ``chunk`` (starting at ``offset``):
    exact for gzip (``before``, the decoder as it was before the chunk, fed byte by byte), the
    chunk's start for zstd (its decoder cannot be copied: ``before`` is None)."""
    if before is None:
        return offset
    for index in range(len(chunk)):
        try:
            before.decompress(chunk[index:index + 1])
        except zlib.error:
            return offset + index
    return offset + len(chunk)


def _corrupt(source: str, compression: str, offset: int, why: object) -> InputError:
    detail = " ".join(str(why).split())
    return InputError(source, f"the compressed stream is corrupt or truncated ({compression}, found at compressed byte "
                      f"{offset:,}: {detail})", hint=_HINT)
