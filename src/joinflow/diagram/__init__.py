"""``dj.Diagram`` and the restriction engine behind delete, ``cascade``, ``restrict`` and
``trace`` (``restriction.py``). Pictures come from ``joinflow.drawing``."""
from __future__ import annotations

from .diagram import ERD, Di, Diagram, diagram_active, upstream_of

__all__ = ["Diagram", "ERD", "Di", "diagram_active", "upstream_of"]
