"""The information_requests flow's own records and pages' queries."""
