"""The page number a list was asked for: a whole number from 1 to 999,999; anything else is the first page."""


def page_number(value: str | None) -> int:
    return int(value) if value and value.isdigit() and 0 < len(value) < 7 and int(value) > 0 else 1
