"""Runnable examples of anyservices in the frameworks people use (see docs/frameworks.md)."""
