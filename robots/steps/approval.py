"""Step kind module (being written)."""
