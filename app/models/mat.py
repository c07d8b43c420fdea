"""The records of Multi Agency Triage."""
