"""MLoop monitor: Stores predictions and feedback; detects drift and decay."""
