"""The page number a list was asked for: a whole number from 1 to 999,999; anything else is the first page."""


def page_number(value: str | None) -> int:
    # Only the digits 0 to 9: isdigit() alone lets through "²", which int() cannot read.
    if value and value.isascii() and value.isdigit() and 0 < len(value) < 7 and int(value) > 0:
        return int(value)
    return 1
