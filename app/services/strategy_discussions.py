"""The strategy_discussions flow's own records and pages' queries."""
