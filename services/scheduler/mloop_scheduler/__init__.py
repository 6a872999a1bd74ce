"""MLoop scheduler: Owns triggers, workflows and deployment state."""
