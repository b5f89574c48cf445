"""Approvals in the store (owned by the approvals feature)."""
