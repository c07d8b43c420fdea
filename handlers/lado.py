"""Handlers of the lado flow."""
