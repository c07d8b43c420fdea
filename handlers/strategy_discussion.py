"""Handlers of the strategy_discussion flow."""
