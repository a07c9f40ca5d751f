"""Hidden tests run by the grader, never in the student's kernel.

A test cell's hidden part runs here, in a fresh namespace of the grading process,
with the real NumPy, the reference implementations, the expected values and the
thresholds it defines. The student's functions in that namespace are stand-ins
that call the real ones in the kernel through :class:`KernelLink`: arguments go in
and results come back as plain data, arrays the student changed in place are
changed here too, and a function the test swaps in for one of the student's
(:func:`autograder.testing.substituted`) is swapped in the kernel for the call, as
a stub that asks the grader for each result. A submission can therefore only
decide what its functions return, never what a test concludes from it.

Tests that need the objects a function returns (a model to train) put that part in
a probe (:mod:`autograder.probes`), which runs in the kernel and returns data. A
hidden part that contains :data:`IN_KERNEL_MARK` still runs whole in the kernel.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder import probes, wire
from autograder.kernel_calls import MAX_WARNINGS
from autograder.kernel_link import KernelLink, LinkFailed
from autograder.testing import recorded_cases

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
IN_KERNEL_MARK = "# autograder: runs in the kernel"
# Libraries a test may use under the name the notebook imported them as.
LIBRARIES = frozenset(
    {"numpy", "math", "random", "scipy", "sklearn", "torch", "tensorflow", "keras", "pandas"}
)


@dataclass(frozen=True)
class Verdict:
    """``fraction``: the share of the points earned by a test that did not pass."""

    passed: bool
    message: str = ""
    fraction: float = 0.0


class StudentCodeRaised(Exception):
    """The student's function raised; the message names the call and the error."""


def split_hidden(source: str) -> tuple[str, str | None]:
    """The visible part of a test cell and its hidden part (None when it has none)."""
    start = source.find(HIDDEN_BEGIN)
    if start < 0:
        return source, None
    end = source.find(HIDDEN_END, start)
    end = len(source) if end < 0 else end
    hidden = source[start + len(HIDDEN_BEGIN) : end]
    visible = source[:start] + source[end + len(HIDDEN_END) :]
    return visible.rstrip() + "\n", hidden


def judged_outside(source: str) -> bool:
    """Whether the grader runs this test cell's checks itself."""
    _, hidden = split_hidden(source)
    return IN_KERNEL_MARK not in (source if hidden is None else hidden)


def free_names(code: str) -> list[str]:
    """Names ``code`` reads but never binds and Python does not provide."""
    tree = ast.parse(code)
    bound, read = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                read.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    names = dict.fromkeys(n for n in read if n not in bound and not hasattr(builtins, n))
    return list(names)


def run_hidden_tests(code: str, link: KernelLink, deadline: float) -> Verdict:
    """Run ``code`` here against the kernel's namespace; passed unless it raised."""
    session = _Session(link, probe_sources(code))
    token = probes.running_probes_with(session)
    try:
        with link.session(deadline), recorded_cases() as cases:
            namespace = session.namespace(free_names(code))
            exec(compile(code, "<hidden tests>", "exec"), namespace)
    except AssertionError as error:
        return Verdict(False, str(error) or "a hidden test failed")
    except LinkFailed:
        raise
    except Exception as error:
        return Verdict(False, f"{type(error).__name__}: {error}")
    finally:
        probes.stop_probes(token)
    failed = [(description, message) for description, message in cases if message is not None]
    if not failed:
        return Verdict(True)
    shown = "; ".join(f"{description}: {message}" for description, message in failed[:3])
    more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
    message = f"{len(failed)} of {len(cases)} cases failed. {shown}{more}"
    return Verdict(False, message, fraction=1 - len(failed) / len(cases))


def probe_sources(code: str) -> dict[str, str]:
    """The source of each top-level function ``code`` decorates with ``in_kernel``."""
    found = {}
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef) and any(
            getattr(d, "id", getattr(d, "attr", None)) == "in_kernel" for d in node.decorator_list
        ):
            found[node.name] = ast.get_source_segment(code, node) or ""
    return found


class _Session:
    """The kernel's namespace as the hidden tests of one cell see it."""

    def __init__(self, link: KernelLink, probe_sources: dict[str, str]) -> None:
        self._link = link
        self._probe_sources = probe_sources
        self._stand_ins: dict[str, StudentFunction] = {}
        self._namespace: dict[str, Any] = {}

    def namespace(self, wanted: list[str]) -> dict[str, Any]:
        reply = self._request({"op": "describe", "names": wanted}, [])
        described = _checked_dict(reply.get("names"))
        for name, parameters in _checked_dict(reply.get("functions")).items():
            self._stand_ins[name] = StudentFunction(self, name, parameters)
        self._namespace = {"__name__": "__hidden_tests__", "__builtins__": builtins}
        self._namespace.update(self._stand_ins)
        for name in wanted:
            entry = described.get(name)
            if name in self._stand_ins or not isinstance(entry, dict) or "missing" in entry:
                continue
            if "value" in entry:
                self._namespace[name] = wire.decode(entry["value"])
            elif "module" in entry:
                self._namespace[name] = _library(name, entry["module"])
            else:
                self._namespace[name] = Unreadable(name, str(entry.get("object", "object")))
        return self._namespace

    def run_probe(self, name: str, args: tuple, kwargs: dict) -> Any:
        if name not in self._probe_sources:
            raise LookupError(f"{name} is not a top-level function decorated with in_kernel")
        return self.call(name, args, kwargs, probe=self._probe_sources[name])

    def call(self, name: str, args: tuple, kwargs: dict, probe: str | None = None) -> Any:
        grader_functions: list[Callable] = []

        def handle(function: Any) -> list:
            if isinstance(function, StudentFunction):
                return ["student", function.name]
            grader_functions.append(function)
            return ["grader", len(grader_functions) - 1]

        # What the test swapped in for one of the student's functions replaces it there.
        replace = {
            other: handle(value)
            for other, stand_in in self._stand_ins.items()
            if other != name
            and (value := self._namespace.get(other, stand_in)) is not stand_in
            and callable(value)
        }
        request = {
            "op": "call",
            "name": name,
            "args": wire.encode(list(args), handle),
            "kwargs": wire.encode(dict(kwargs), handle),
            "replace": replace,
        }
        if probe is not None:
            request["probe"] = probe
        reply = self._request(request, grader_functions)
        if "raised" in reply:
            ename, evalue, where = [*map(str, reply["raised"]), "", "", ""][:3]
            if probe is None:
                raise StudentCodeRaised(f"{name}(...) raised {ename}: {evalue}".rstrip(": "))
            raise StudentCodeRaised(
                f"the submission's code, run by the test, raised {ename} in {where}: {evalue}"
            )
        _warn_again(reply.get("warnings"))
        value = wire.decode(reply.get("value"))
        _write_back(list(args), wire.decode(reply.get("args_after"), _placeholder))
        _write_back(dict(kwargs), wire.decode(reply.get("kwargs_after"), _placeholder))
        return value

    def _request(self, payload: dict, grader_functions: list[Callable]) -> dict:
        return self._link.request(payload, grader_functions)

    def stand_in(self, name: str) -> StudentFunction | None:
        return self._stand_ins.get(name)


def _checked_dict(value: Any) -> dict:
    if not isinstance(value, dict):
        raise wire.WireError("the kernel's description is not a mapping")
    return value


def _library(name: str, module: Any) -> Any:
    """The grader's own copy of a library the notebook imported (``np``, say): one
    already loaded here or a known library, so a name from the kernel imports nothing else."""
    if isinstance(module, str) and module in sys.modules:
        return sys.modules[module]
    if isinstance(module, str) and module.split(".")[0] in LIBRARIES:
        return importlib.import_module(module)
    return Unreadable(name, "module")


def _warn_again(caught: Any) -> None:
    """Raise here the warnings the student's function raised in the kernel, so the
    test's warning filters (``simplefilter("error")``) see them."""
    if not isinstance(caught, list):
        return
    for entry in caught[:MAX_WARNINGS]:
        if isinstance(entry, list) and len(entry) == 2:
            category = getattr(builtins, str(entry[0]), None)
            if not (isinstance(category, type) and issubclass(category, Warning)):
                category = UserWarning
            warnings.warn_explicit(str(entry[1]), category, "<submission>", 0)


def _placeholder(handle: Any) -> None:
    return None


def _write_back(before: Any, after: Any) -> None:
    """Change the grader's arrays as the student's function changed its copies."""
    if isinstance(before, np.ndarray) and isinstance(after, np.ndarray):
        if before.shape == after.shape and before.flags.writeable:
            np.copyto(before, after, casting="unsafe")
    elif isinstance(before, (list, tuple)) and isinstance(after, (list, tuple)):
        for old, new in zip(before, after, strict=False):
            _write_back(old, new)
    elif isinstance(before, dict) and isinstance(after, dict):
        for key, old in before.items():
            if key in after:
                _write_back(old, after[key])


class StudentFunction:
    """A function of the student's, called in the kernel."""

    def __init__(self, session: _Session, name: str, parameters: Any) -> None:
        self._session = session
        self.name = self.__name__ = self.__qualname__ = self.student_function_name = name
        self._parameters = parameters

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.call(self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<the submission's {self.name}>"

    @property
    def __signature__(self) -> inspect.Signature:
        if not isinstance(self._parameters, list):
            raise ValueError(f"the signature of {self.name} could not be read")
        return inspect.Signature([self._parameter(entry) for entry in self._parameters])

    def _parameter(self, entry: Any) -> inspect.Parameter:
        if not isinstance(entry, dict):
            raise ValueError(f"the signature of {self.name} is malformed")
        kind = inspect.Parameter.__dict__.get(str(entry.get("kind")))
        if not isinstance(kind, inspect._ParameterKind):
            raise ValueError(f"the signature of {self.name} is malformed")
        default: Any = inspect.Parameter.empty
        if "default" in entry:
            default = wire.decode(entry["default"])
        elif "default_function" in entry:
            name = str(entry["default_function"])
            default = self._session.stand_in(name) or Unreadable(name, "function")
        elif "default_object" in entry:
            default = Unreadable("a default", str(entry["default_object"]))
        return inspect.Parameter(str(entry.get("name")), kind, default=default)


class Unreadable:
    """A name whose value is not plain data; any use of it fails the test."""

    def __init__(self, name: str, kind: str) -> None:
        self.__name__ = name
        self._kind = kind

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(
            f"{self.__name__} is a {self._kind}, which the grader cannot read from the notebook"
        )

    def __repr__(self) -> str:
        return f"<{self._kind} {self.__name__}>"
