"""arbots: receivables-collection robots."""
