"""The steering-group figures of each past day, kept so a quarter is added up from about ninety rows rather than
counted again from every child contact in it (app/services/figures_days.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime


class FiguresDay(db.Model):  # type: ignore[name-defined,misc]
    """One London day's counts, or none when they must be worked out again.

    `version` goes up with every change to the records the day's figures count, in the transaction that
    makes it; counts worked out meanwhile are kept only if the version is still the one read before."""

    __tablename__ = "figures_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # NULL, not JSON null
    version: Mapped[int] = mapped_column(Integer, default=0)
    worked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
