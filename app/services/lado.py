"""The lado flow's own records and pages' queries."""
