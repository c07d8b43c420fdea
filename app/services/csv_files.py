"""Reading a CSV file someone uploads (the main record system's export, the day's police notifications):
text in UTF-8 as a spreadsheet saves it, a header row naming the columns, then one row per record.

A file that cannot be read as such is refused whole, with a reason in plain words; what each row means is
for the caller to check.
"""

from __future__ import annotations

import csv
import io


class FileRefused(Exception):
    """The file as a whole cannot be read as the CSV asked for: nothing was recorded from it."""


def read(data: bytes, row_kind: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header (names in lower case) and the data rows, numbered as a spreadsheet numbers them, as
    column -> text. A UTF-8 byte-order mark and Windows line endings are what a spreadsheet saves, so both
    are accepted; blank lines are passed over; a row with more values than the header has names is marked
    with `__extra__` (how many values it has), for the caller to refuse."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused(
            "The file is not a CSV file: it is not text in UTF-8. Save it from the spreadsheet as "
            "'CSV UTF-8 (comma delimited)'."
        ) from None
    if "\x00" in text:
        raise FileRefused("The file is not a CSV file: it holds binary data.")
    if not text.strip():
        raise FileRefused(f"The file is empty: it needs a header row naming the columns, then one row per {row_kind}.")
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise FileRefused(f"The file is not a CSV file that can be read: {err}.") from None
    header = [h.strip().lower() for h in lines[0]]
    rows = []
    for number, values in enumerate(lines[1:], start=2):
        if not any(v.strip() for v in values):
            continue  # a blank line, as spreadsheets leave at the end
        record = {name: (values[i].strip() if i < len(values) else "") for i, name in enumerate(header)}
        if len(values) > len(header):
            record["__extra__"] = str(len(values))
        rows.append((number, record))
    return header, rows


def check_header(header: list[str], columns: list[str] | tuple[str, ...], help_text: str) -> None:
    """Refuse a header that names a column the file may not have, or names one twice."""
    unknown = [h or "(blank)" for h in header if h not in columns]
    if unknown:
        raise FileRefused(f"The header row names unknown column(s): {', '.join(unknown)}. {help_text}")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise FileRefused(f"The header row names a column more than once: {', '.join(repeated)}.")


def check_required(header: list[str], missing: list[str]) -> None:
    if missing:
        raise FileRefused(f"The header row lacks required column(s): {', '.join(missing)}.")
