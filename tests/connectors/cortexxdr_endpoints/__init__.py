"""Cortex XDR endpoints: the contract uses the defaults (secrets api_key_id, api_key)."""
