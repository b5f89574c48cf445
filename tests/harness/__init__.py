"""Test harness: what tests start as processes (a daemon on a clock the test drives). Nothing in production
imports it."""
