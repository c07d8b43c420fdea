"""The records of strategy discussions."""
