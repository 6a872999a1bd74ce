"""The dashboard: page shells, static files, sign-in sessions and languages."""
