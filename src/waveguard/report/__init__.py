"""Render results for people (tables, HTML) and machines (JSON, SARIF)."""
