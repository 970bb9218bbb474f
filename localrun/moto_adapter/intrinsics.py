"""Intrinsic-function string literals read as AWS reads them (``offline_aws(fix_intrinsic_escapes=True)``).

Patched moto internals (under ``moto.stepfunctions.parser.asl.parse.intrinsic``):
``intrinsic_parser.IntrinsicParser.parse`` and ``preprocessor.Preprocessor._replace_escaped_characters``.
moto parses an intrinsic call from the raw JSON text, so the escapes that AWS requires in its
string literals (backslash before ``'``, ``{``, ``}``, backslash) break.
``States.StringToJson('\\{...\\}')``, as ``stacks.asl.intrinsic_string`` writes it, fails with
States.Runtime. These patches JSON-decode the call first, and they read the four escapes as AWS
does.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from typing import Any, Final

from moto.stepfunctions.parser.asl.parse.intrinsic import intrinsic_parser
from moto.stepfunctions.parser.asl.parse.intrinsic import preprocessor as intrinsic_preprocessor

_ORIGINAL_INTRINSIC_PARSE: Final = intrinsic_parser.IntrinsicParser.parse
_ORIGINAL_UNESCAPE: Final = intrinsic_preprocessor.Preprocessor._replace_escaped_characters
_INTRINSIC_ESCAPES: Final = frozenset("'{}\\")


def parse_intrinsic_value(src: str) -> Any:
    """moto gets the intrinsic call as raw JSON text; give it the JSON-decoded value AWS parses."""
    with suppress(ValueError):
        src = json.loads(f'"{src}"')
    return _ORIGINAL_INTRINSIC_PARSE(src)


def unescape_intrinsic(match: re.Match[str]) -> str:
    """Escaped ``'``, ``{``, ``}`` and backslash stand for themselves, as on AWS; the rest as moto does."""
    char = match.group(1)
    return char if char in _INTRINSIC_ESCAPES else str(_ORIGINAL_UNESCAPE(match))
