"""``--help`` shows metavars (``N``, ``PATH``, ``NODE``), never Python types.

typer 0.2x's help prints each parameter's annotation in the type column, through
``typer.core._TyperParameter.display_type_rich``: ``<bool>`` beside every flag (``--json``,
``--help``), ``<list[str]>`` beside ``NODE``, ``<int range>`` beside a bounded number. A flag
takes no value, an argument's name column already shows its metavar, and a value's metavar is
what the user types. :func:`install` replaces that one method on typer's option and argument
classes (typer builds them itself, so there is no subclass to pass): an option's metavar when it
has one, else a metavar from its type (``INTEGER``, ``NUMBER``, ``PATH``, ``TEXT``), nothing for
flags and arguments. The help of an older typer, without that method, is left as it is.
"""

from __future__ import annotations

import datetime
from typing import Any

from typer import core

_BY_TYPE: dict[Any, str] = {int: "INTEGER", float: "NUMBER", str: "TEXT", datetime.datetime: "DATE"}


def option_metavar(param: Any, ctx: Any) -> str | None:
    """What the type column shows for an option: None for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if param.metavar is not None:
        return str(param.metavar)
    descriptor = param.type_descriptor
    if descriptor.is_choice:
        label = "|".join(str(getattr(c, "value", c)) for c in descriptor.choices or ())
    elif descriptor.is_path:
        label = {"file": "FILE", "directory": "DIR"}.get(str(descriptor.path_type), "PATH")
    else:
        label = _BY_TYPE.get(descriptor.annotation, "VALUE")
    return label if param.nargs == 1 else f"{label}..."


def argument_metavar(param: Any, ctx: Any) -> str | None:
    """Nothing: the argument's name column already shows its metavar (``NODE``)."""
    return None


def install() -> None:
    """Make typer's help print metavars (idempotent; a no-op on typer without the hook)."""
    if not hasattr(core, "TyperOption") or not hasattr(core.TyperOption, "display_type_rich"):
        return
    core.TyperOption.display_type_rich = option_metavar  # type: ignore[method-assign, assignment]
    core.TyperArgument.display_type_rich = argument_metavar  # type: ignore[method-assign, assignment]
