"""The records of information requests."""
