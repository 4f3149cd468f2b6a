"""Machinery every service shares: errors, config, lifecycle, the portal and sync faces."""
