#!/usr/bin/env python3
"""The one entry point of arbots: ``python run_robots.py [--config schedules.yaml] COMMAND``."""

import sys

from robots.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
