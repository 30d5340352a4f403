"""Tables of the measure package (plan targets, figures, feedback)."""

from __future__ import annotations
