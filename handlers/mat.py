"""Handlers of the mat flow."""
