"""Development tools of the project (not deployed)."""
