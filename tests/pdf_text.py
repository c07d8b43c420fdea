"""The text of a PDF that WeasyPrint wrote, read without a PDF library (none is installed here, and poppler's
pdftotext is not on the machine): enough of the format to read the letters honestly.

WeasyPrint writes each font as a subset whose glyph codes mean nothing on their own; its ToUnicode CMap says
which characters they stand for. So: collect every object (also those packed in object streams), map each
font's resource name to its CMap, then walk the page content, following the font in use (`Tf`) and decoding
the hex strings that `TJ` and `Tj` show. A PDF this reader does not understand raises, rather than reading
as empty, so a test that asserts a name is absent cannot pass by reading nothing.
"""

from __future__ import annotations

import re
import zlib

_HEADER = re.compile(rb"(\d+) 0 obj\b")
_REF = re.compile(rb"/([A-Za-z0-9_.+-]+) (\d+) 0 R")
_SHOW = re.compile(rb"/([A-Za-z0-9_.+-]+)\s+[-\d.]+\s+Tf|\[((?:[^\]\\]|\\.)*)\]\s*TJ|<([0-9A-Fa-f\s]*)>\s*Tj|\(")


def pdf_text(pdf: bytes) -> str:
    """The text shown on the pages, one text run after another, with runs of whitespace made single spaces."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("not a PDF")
    objects = _objects(pdf)
    cmaps = _font_cmaps(objects)
    runs: list[str] = []
    shown = 0
    for data in _content_streams(objects):
        cmap: tuple[int, dict[bytes, str]] | None = None
        for match in _SHOW.finditer(data):
            if match[1] is not None:
                cmap = cmaps[match[1]]
                continue
            if match[0] == b"(":
                raise ValueError("a literal string in page content: this reader only reads WeasyPrint's hex strings")
            if cmap is None:
                raise ValueError("text shown before any font was chosen")
            hexes = re.findall(rb"<([0-9A-Fa-f\s]*)>", match[2]) if match[2] is not None else [match[3]]
            runs.append("".join(_decode(h, cmap) for h in hexes))
            shown += 1
    if shown == 0:
        raise ValueError("no text found in the PDF")
    return re.sub(r"\s+", " ", " ".join(runs)).strip()


def squashed(text: str) -> str:
    """Text without any whitespace: a name split over two text runs is still found in it."""
    return re.sub(r"\s+", "", text)


def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Every object as (dictionary part, decoded stream or None), including those inside object streams."""
    objects: dict[int, tuple[bytes, bytes | None]] = {}
    pos = 0
    while match := _HEADER.search(pdf, pos):
        start = match.end()
        end = pdf.find(b"endobj", start)
        stream_at = pdf.find(b"stream", start)
        if end == -1:
            break
        if stream_at != -1 and stream_at < end:
            head = pdf[start:stream_at]
            length = re.search(rb"/Length (\d+)", head)
            if length is None:
                raise ValueError("a stream without a direct /Length")
            body_at = stream_at + len(b"stream")
            body_at += 2 if pdf[body_at : body_at + 2] == b"\r\n" else 1
            data = pdf[body_at : body_at + int(length[1])]
            if b"/FlateDecode" in head:
                data = zlib.decompress(data)
            objects[int(match[1])] = (head, data)
            pos = body_at + int(length[1])
        else:
            objects[int(match[1])] = (pdf[start:end], None)
            pos = end
    for head, data in list(objects.values()):
        if b"/Type /ObjStm" in head and data is not None:
            first = int(re.search(rb"/First (\d+)", head)[1])  # type: ignore[index]
            numbers = [int(n) for n in data[:first].split()]
            pairs = list(zip(numbers[::2], numbers[1::2]))
            for i, (number, offset) in enumerate(pairs):
                stop = first + pairs[i + 1][1] if i + 1 < len(pairs) else len(data)
                objects[number] = (data[first + offset : stop], None)
    return objects


def _content_streams(objects: dict[int, tuple[bytes, bytes | None]]) -> list[bytes]:
    """The pages' content streams, and form XObjects, which may draw text too."""
    numbers: list[int] = []
    for head, _data in objects.values():
        contents = re.search(rb"/Contents\s*(\[[^\]]*\]|\d+ 0 R)", head)
        if contents:
            numbers += [int(n) for n in re.findall(rb"(\d+) 0 R", contents[1])]
    numbers += [n for n, (head, data) in objects.items() if data is not None and b"/Subtype /Form" in head]
    streams = [objects[n][1] for n in numbers]
    if not streams:
        raise ValueError("no page content in the PDF")
    return [s for s in streams if s is not None]


def _font_cmaps(objects: dict[int, tuple[bytes, bytes | None]]) -> dict[bytes, tuple[int, dict[bytes, str]]]:
    """Each font resource name (as `Tf` names it) with its code width and ToUnicode map."""
    by_font: dict[int, tuple[int, dict[bytes, str]]] = {}
    for number, (head, _data) in objects.items():
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", head)
        if to_unicode:
            stream = objects[int(to_unicode[1])][1]
            assert stream is not None
            by_font[number] = _parse_cmap(stream)
    names: dict[bytes, tuple[int, dict[bytes, str]]] = {}
    for head, _data in objects.values():
        for name, number in _REF.findall(head):
            if int(number) in by_font:
                names[name] = by_font[int(number)]
    return names


def _parse_cmap(stream: bytes) -> tuple[int, dict[bytes, str]]:
    space = re.search(rb"begincodespacerange\s*<([0-9A-Fa-f]+)>", stream)
    width = len(space[1]) // 2 if space else 2
    mapping: dict[bytes, str] = {}
    for section in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", section):
            mapping[bytes.fromhex(src.decode())] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for section in re.findall(rb"beginbfrange(.*?)endbfrange", stream, re.S):
        for lo, hi, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(<[0-9A-Fa-f]+>|\[[^\]]*\])", section):
            low, high = int(lo, 16), int(hi, 16)
            targets = re.findall(rb"<([0-9A-Fa-f]+)>", dst)
            for offset, code in enumerate(range(low, high + 1)):
                key = code.to_bytes(width, "big")
                if dst.startswith(b"["):
                    mapping[key] = bytes.fromhex(targets[offset].decode()).decode("utf-16-be")
                else:
                    start = int(targets[0], 16) + offset
                    mapping[key] = chr(start)
    return width, mapping


def _decode(hex_string: bytes, cmap: tuple[int, dict[bytes, str]]) -> str:
    width, mapping = cmap
    raw = bytes.fromhex(re.sub(rb"\s", b"", hex_string).decode())
    out = []
    for i in range(0, len(raw), width):
        code = raw[i : i + width]
        if code not in mapping:
            raise ValueError(f"glyph code {code.hex()} has no character in the font's ToUnicode map")
        out.append(mapping[code])
    return "".join(out)
