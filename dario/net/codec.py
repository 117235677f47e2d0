"""Encodings, both ways of the wire: a message head's bytes, and Content-Encoding (gzip and deflate;
br when the brotli package is there)."""

from __future__ import annotations

import zlib

try:
    import brotli  # optional, as for aiohttp: br is offered and read only when it can be
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None

ACCEPT_ENCODING = "gzip, deflate, br" if brotli is not None else "gzip, deflate"


def head_bytes(lines: list[str]) -> bytes:
    """A message head from its lines, each of which ends in its one CRLF. A CR or LF inside a line
    (a value that would start a header of its own) becomes a space; a line that is not latin-1 goes
    as UTF-8, as most peers read it. Almost every head is clean: one check and one encode for it."""
    text = "".join(lines)
    if text.count("\r") == text.count("\n") == len(lines):
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            pass
    out = []
    for line in lines:
        line = line[:-2] if line.endswith("\r\n") else line
        if "\r" in line or "\n" in line:
            line = line.replace("\r", " ").replace("\n", " ")
        try:
            out.append(line.encode("latin-1"))
        except UnicodeEncodeError:
            out.append(line.encode("utf-8", "surrogateescape"))
    return b"\r\n".join(out) + b"\r\n"


class DecodeError(ValueError):
    pass


def decoder(encoding: str) -> "Decoder | None":
    """A decoder for a Content-Encoding value; None: identity, or one dario cannot read (passed on as is)."""
    enc = encoding.strip().lower()
    if enc in ("gzip", "x-gzip", "deflate") or (enc == "br" and brotli is not None):
        return Decoder("gzip" if enc == "x-gzip" else enc)
    return None


class Decoder:
    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        if encoding == "br":
            self._d = brotli.Decompressor()
        else:
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        self._first = True

    def feed(self, data: bytes) -> bytes:
        try:
            if self.encoding == "br":
                return self._d.process(data)
            if self._first and self.encoding == "deflate":  # some servers send raw deflate, no zlib header
                self._first = False
                try:
                    return self._d.decompress(data)
                except zlib.error:
                    self._d = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._d.decompress(data)
        except Exception as e:
            raise DecodeError(f"the {self.encoding} body cannot be decoded ({type(e).__name__}: {e})") from None

    def decode(self, data: bytes) -> bytes:
        """A whole body; a truncated stream is an error too."""
        out = self.feed(data)
        if self.encoding != "br" and not self._d.eof:
            raise DecodeError(f"the {self.encoding} body is truncated")
        return out
