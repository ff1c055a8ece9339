"""Decoding wire bytes to text: declared encoding first, then detection.

Agencies deliver UTF-8, Latin-1 and Windows-1252 (often undeclared), and
legacy feeds carry control characters by design. Decoding is deliberately
forgiving of legacy encodings and strict about garbage: a payload that is
mostly control bytes or NULs is not text in any encoding, and is rejected
with ``ParseError(UNDECODABLE)`` rather than decoded into mojibake.
"""

from __future__ import annotations

import codecs
import re
from typing import Optional

from transforms.model import DeadLetterReason, ParseError

__all__ = ["decode_text", "looks_binary"]

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Bytes 0x80-0x9F are C1 controls in Latin-1 but printable punctuation
# (curly quotes, dashes, the euro sign) in Windows-1252: undeclared copy
# with those bytes is nearly always Windows-1252.
_C1_BYTES = re.compile(rb"[\x80-\x9f]")
# Controls that legacy wire formats use on purpose (SOH, STX, ETX, EOT, SYN,
# ESC, US, BEL and the usual whitespace); other C0 bytes suggest binary.
_WIRE_CONTROLS = set(b"\x01\x02\x03\x04\x07\x09\x0a\x0b\x0c\x0d\x16\x1b\x1e\x1f")
_NOT_ODD_BYTES = bytes(b for b in range(256) if b >= 0x20 or b in _WIRE_CONTROLS)


def looks_binary(data: bytes, sample_size: int = 4096) -> bool:
    """True when the start of ``data`` is not plausibly text of any encoding."""
    sample = data[:sample_size]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    # Count the odd control bytes in C: delete every other byte value.
    odd = len(sample.translate(None, _NOT_ODD_BYTES))
    return odd / len(sample) > 0.05


def _normalize_codec(name: str) -> Optional[str]:
    try:
        return codecs.lookup(name.strip().strip("'\"")).name
    except (LookupError, AttributeError):
        return None


def decode_text(data: bytes, declared: Optional[str] = None) -> tuple[str, str]:
    """Decode ``data`` and return ``(text, encoding_used)``.

    Args:
      data: the raw bytes.
      declared: the encoding the container declares (XML prolog, MIME
        charset), if any. It is trusted when the bytes decode with it.

    Raises:
      ParseError: with reason ``undecodable`` for binary data.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec), codec
            except UnicodeDecodeError as error:
                raise ParseError(
                    DeadLetterReason.UNDECODABLE, f"text: bad {codec} after BOM: {error}"
                ) from error
    if looks_binary(data):
        raise ParseError(DeadLetterReason.UNDECODABLE, "text: binary data, not text in any encoding")
    if declared:
        codec = _normalize_codec(declared)
        if codec:
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                pass  # a wrong declaration is common; fall through to detection
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _C1_BYTES.search(data):
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are undefined in cp1252
    return data.decode("latin-1"), "iso8859-1"
