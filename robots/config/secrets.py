"""Secrets only by reference: a key like ``password:`` with a value is refused wherever it stands in the config."""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from robots.config.yamlsource import Loc, Problem, YamlSource
from robots.support.redact import SECRET_WORDS

SECRET_KEY = re.compile(rf"({SECRET_WORDS})$", re.IGNORECASE)


def secret_problems(src: YamlSource) -> list[Problem]:
    return _walk(src, src.data, ())


def _walk(src: YamlSource, node: Any, loc: Loc) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            here = loc + (key,)
            if isinstance(key, str) and SECRET_KEY.search(key) and value not in (None, ""):
                problems.append(src.problem(here, (
                    f"secrets are never written in the config; put it in an environment variable and write "
                    f"{key}_env: VAR_NAME, or in a file readable only by arbots and write {key}_file: PATH")))
            else:
                problems += _walk(src, value, here)
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            problems += _walk(src, value, loc + (i,))
    return problems
