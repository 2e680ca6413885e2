"""Cortex XDR incidents: the contract uses the defaults (secrets api_key_id, api_key)."""
