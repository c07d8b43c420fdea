"""The records of domestic-abuse notifications and their triage."""
