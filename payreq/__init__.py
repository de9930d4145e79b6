"""Shared plumbing for the API and the worker: settings, Temporal connection, database, CLI."""
