"""The handlers' tests import each handler by path; its zip's shared modules come from `lambda/shared`."""

from __future__ import annotations

import sys
from pathlib import Path

# In the deployed zip the shared modules sit beside handler.py; here they are one folder over.
SHARED = Path(__file__).resolve().parent / "shared"
if str(SHARED) not in sys.path:
    sys.path.insert(0, str(SHARED))
