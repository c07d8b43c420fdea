"""The records of LADO allegations."""
