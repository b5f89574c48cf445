"""Connectors: where the receivables ledger comes from (a folder of CSV files, the built-in demo data).

See :mod:`connectors.base` for the protocol and its errors.
"""
