"""The mat flow's own records and pages' queries."""
