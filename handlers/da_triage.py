"""Handlers of the da_triage flow."""
