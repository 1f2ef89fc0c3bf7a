"""The real-time decision service (issue 5)."""
