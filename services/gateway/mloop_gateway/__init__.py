"""MLoop gateway: the REST API, the dashboard, and the publisher of user commands."""
