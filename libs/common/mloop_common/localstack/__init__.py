"""The embedded local stack: broker, Postgres, artifact folder and the five services."""
