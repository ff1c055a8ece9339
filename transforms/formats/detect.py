"""Format detection from content, file name and hints (placeholder: plain text only)."""

from __future__ import annotations

from typing import Optional

from transforms.formats.encoding import looks_binary

__all__ = ["detect_format"]


def detect_format(data: bytes, filename: Optional[str] = None, hint: Optional[str] = None) -> Optional[str]:
    """Name of the format of ``data``, or None when it is not one wire-ingest reads."""
    if looks_binary(data):
        return None
    head = data.lstrip()[:1]
    if head in (b"<", b"{", b"["):
        return None
    return "plain_text"
