"""Signing: officers, their certificates, PAdES signatures made with pyHanko, and their validation."""
