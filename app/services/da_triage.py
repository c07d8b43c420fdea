"""The da_triage flow's own records and pages' queries."""
