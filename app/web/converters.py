"""The whole numbers in web addresses (/cases/<int:case_id>) are record ids, and no record's id can be larger
than the database's integer column holds. A number past that (/cases/10**30) is simply an address with no page:
asked of the database as it is, SQLite refuses to convert it and the request would fail instead of answering 404.
"""

from typing import Any

from werkzeug.routing import IntegerConverter, Map

# The largest id an Integer primary key holds on PostgreSQL; SQLite's are larger, but ids start at 1 on both.
LARGEST_RECORD_ID = 2**31 - 1


class RecordId(IntegerConverter):
    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", LARGEST_RECORD_ID)
        super().__init__(url_map, *args, **kwargs)


def whole_number(text: str | None, most_digits: int) -> int | None:
    """A whole number typed or sent in a form, or None. Only the digits 0 to 9: str.isdigit() alone lets
    through "²", which int() cannot read, and a length limit keeps it a number the database can hold."""
    if text and text.isascii() and text.isdigit() and len(text) <= most_digits:
        return int(text)
    return None
