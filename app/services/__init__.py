"""What the views call. Every write happens here, in one transaction per user action."""
