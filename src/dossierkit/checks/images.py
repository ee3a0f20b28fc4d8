"""Rules on image copies (DESIGN §4). Filled in by the image import work (issue #3)."""

from __future__ import annotations
