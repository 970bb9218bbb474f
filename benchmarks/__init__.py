"""Measurements of the project against its performance goals (see README.md here)."""
