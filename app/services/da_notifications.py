"""The da_notifications flow's own records and pages' queries."""
