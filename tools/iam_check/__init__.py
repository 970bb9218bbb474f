"""IAM checks: evaluate the requests the code makes against its policies (development only)."""
