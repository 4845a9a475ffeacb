"""Interactive prompts, kept at the edge: asked only when requested *and* a person can answer
(stdin is a terminal), so scripts, notebooks without a terminal and CI never hang."""
from __future__ import annotations

import sys
from typing import Any


def interactive() -> bool:
    """True when a person can answer a prompt (stdin is a terminal)."""
    try:
        return bool(sys.stdin) and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def should_prompt(prompt: bool | None, config: Any) -> bool:
    """Prompt only when asked to (``prompt``, default ``safemode``) *and* someone can answer:
    scripts, notebooks without a terminal and CI never hang on ``input()``."""
    if prompt is None:
        prompt = config["safemode"]
    return bool(prompt) and interactive()


def confirm(message: str) -> bool:
    """Ask; only the exact answer ``yes`` confirms."""
    try:
        answer = input(message + " [yes, No]: ")
    except (EOFError, OSError, RuntimeError):
        return False
    return answer.strip().lower() == "yes"

