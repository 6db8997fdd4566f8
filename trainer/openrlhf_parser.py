"""Check a command line against the installed OpenRLHF's own argument parser, without ray or torch.

``openrlhf/cli/train_ppo_ray.py`` builds its argparse parser inline under
``if __name__ == "__main__":`` and then validates the parsed arguments (assertions on batch
sizes, dynamic filtering, estimators ...) before calling ``train(args)``. The module's top-level
imports need ray and torch, but those statements do not: this module reads the file's syntax
tree, runs the parser-building statements, parses the arguments, and runs the validation
statements, stopping before ``train(args)``. A flag the parser does not know, a bad value or a
failed assertion is reported as :class:`CommandRejected`.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
from datetime import datetime
from pathlib import Path
from typing import Any

from trainer.config import OPENRLHF_ENTRY


class OpenRLHFUnavailable(RuntimeError):
    """openrlhf is not installed (or its train_ppo_ray.py is not where 0.11.x keeps it)."""


class CommandRejected(ValueError):
    """OpenRLHF's parser or its argument validation refused the command."""


def _package_dir() -> Path:
    spec = importlib.util.find_spec("openrlhf")  # imports only openrlhf/__init__.py
    if spec is None or not spec.submodule_search_locations:
        raise OpenRLHFUnavailable(
            "openrlhf is not installed (pip install '.[train]', or openrlhf==0.11.2 --no-deps)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def openrlhf_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("openrlhf")
    except Exception:
        return None


def _load_hierarchize(package: Path) -> Any:
    # openrlhf/utils/__init__.py imports heavy modules; config.py alone has no dependencies.
    spec = importlib.util.spec_from_file_location("_openrlhf_utils_config", package / "utils" / "config.py")
    if spec is None or spec.loader is None:
        raise OpenRLHFUnavailable(f"no {package / 'utils' / 'config.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.hierarchize


def _main_block(tree: ast.Module) -> list[ast.stmt]:
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        ):
            return node.body
    raise OpenRLHFUnavailable('train_ppo_ray.py has no `if __name__ == "__main__":` block')


def _is_parse_args(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and stmt.value.func.attr == "parse_args"
    )


def _is_train_call(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id == "train"
    )


def _is_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Import | ast.ImportFrom)


class _Parser:
    """The parser and the validation statements of one train_ppo_ray.py."""

    def __init__(self, source_path: Path, hierarchize: Any) -> None:
        body = _main_block(ast.parse(source_path.read_text(), filename=str(source_path)))
        split = next((i for i, stmt in enumerate(body) if _is_parse_args(stmt)), None)
        if split is None:
            raise OpenRLHFUnavailable(f"{source_path}: no parser.parse_args() in the main block")
        build = [s for s in body[:split] if not _is_import(s)]
        validate = [s for s in body[split + 1 :] if not _is_import(s) and not _is_train_call(s)]
        self._build_code = compile(ast.Module(body=build, type_ignores=[]), str(source_path), "exec")
        self._validate_code = compile(ast.Module(body=validate, type_ignores=[]), str(source_path), "exec")
        self._hierarchize = hierarchize
        self.source_path = source_path

    def build(self) -> argparse.ArgumentParser:
        namespace: dict[str, Any] = {"argparse": argparse, "datetime": datetime}
        exec(self._build_code, namespace)  # noqa: S102 - OpenRLHF's own parser-building statements
        parser = namespace["parser"]
        parser.prog = f"python -m {OPENRLHF_ENTRY}"
        parser.exit_on_error = False
        # Stricter than OpenRLHF: a prefix of a flag (--reward.mode for --reward.model_name_or_path)
        # is a typo here, not an abbreviation.
        parser.allow_abbrev = False
        return parser

    def check(self, argv: list[str]) -> Any:
        parser = self.build()
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                parsed = parser.parse_args(argv)
        except SystemExit:
            # argparse prints the whole usage first; the reason is the last line.
            lines = stderr.getvalue().strip().splitlines()
            raise CommandRejected(lines[-1] if lines else "argparse refused the command") from None
        except argparse.ArgumentError as exc:
            raise CommandRejected(str(exc)) from None
        # The validation statements start with `args = hierarchize(args)` (its import is dropped).
        namespace: dict[str, Any] = {
            "args": parsed,
            "hierarchize": self._hierarchize,
            "print": lambda *a, **k: None,
        }
        try:
            exec(self._validate_code, namespace)  # noqa: S102 - OpenRLHF's own argument validation
        except AssertionError as exc:
            raise CommandRejected(f"OpenRLHF's argument validation: {exc}") from None
        except Exception as exc:  # validation code tripping over a missing argument
            raise CommandRejected(
                f"OpenRLHF's argument validation failed: {type(exc).__name__}: {exc}"
            ) from None
        return namespace["args"]


_cached: _Parser | None = None


def _parser() -> _Parser:
    global _cached
    if _cached is None:
        package = _package_dir()
        source = package / "cli" / "train_ppo_ray.py"
        if not source.is_file():
            raise OpenRLHFUnavailable(f"no {source}")
        _cached = _Parser(source, _load_hierarchize(package))
    return _cached


def check_command(argv: list[str]) -> Any:
    """Parse and validate a ``train_ppo_ray`` command (with or without the leading
    ``python -m openrlhf.cli.train_ppo_ray``); return the hierarchical args OpenRLHF would train with."""
    if OPENRLHF_ENTRY in argv:
        argv = argv[argv.index(OPENRLHF_ENTRY) + 1 :]
    return _parser().check(list(argv))
