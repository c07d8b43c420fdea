"""Handlers of the information_requests flow."""
