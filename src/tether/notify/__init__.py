"""Notices of turns that need a person or finished, delivered to a webhook and a command."""
