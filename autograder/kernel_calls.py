"""The kernel's side of a judged test: call the student's code, hand back plain data.

For each test cell the grader opens one :func:`session`, one execution that reads
requests on the kernel's stdin channel: describe some names of the student's
namespace, call one of its functions on given arguments, or define and call a
probe, a function of the test's that must run beside the student's code (to build
and train a model) and returns what it measured as data. Each reply is
:mod:`autograder.wire` data in the prompt of the next ``input()``.
Functions the grader passes in (an activation, a gradient, a reference
implementation swapped in for one of the student's) stay with the grader: the
kernel gets stubs that ask for each call's result over the kernel's stdin channel,
so no reference code or expected value ever enters the kernel.

Nothing here is trusted: a submission can replace this module, and the grader
treats every reply as the submission's answer, never as a verdict.
"""

from __future__ import annotations

import builtins
import inspect
import json
import traceback
import types
import warnings
from collections.abc import Callable, MutableMapping
from typing import Any

from autograder import wire

REPLY_PROMPT = "autograder-reply:"
END = "end"
CALLBACK_PROMPT = "autograder-callback:"
MAX_MESSAGE = 2000
MAX_NAMES = 5000
MAX_WARNINGS = 20
GRADER_HANDLE = "_autograder_grader_handle"


class CallbackFailed(Exception):
    """A function of the grader's raised, or could not be reached, while called from here."""


def session(namespace: MutableMapping[str, Any]) -> None:
    """Answer the grader's requests until it ends the session.

    Each reply goes out as the prompt of the ``input()`` that waits for the next
    request, so a test's calls cost one stdin round trip each, not an execution.
    """
    reply: dict = {"ready": True}
    while True:
        request_text = builtins.input(REPLY_PROMPT + json.dumps(reply))
        try:
            request = json.loads(request_text)
            if request["op"] == END:
                return
            if request["op"] == "describe":
                reply = _describe_all(namespace, list(request["names"]))
            else:
                reply = _call(namespace, request)
        except KeyboardInterrupt:
            raise  # the grader interrupted the kernel: the session is over
        except BaseException as error:
            reply = {"raised": _raised(error)}


def _raised(error: BaseException) -> list[str]:
    """The error's name, message, and the function it was raised in."""
    frames = traceback.extract_tb(error.__traceback__)
    where = frames[-1].name if frames else ""
    return [type(error).__name__, str(error)[:MAX_MESSAGE], where]


def _describe_all(namespace: MutableMapping[str, Any], wanted: list[str]) -> dict:
    """The values of the names in ``wanted``, and every function the namespace holds
    (with its parameters when it is wanted)."""
    functions = {
        name: _parameters(value) if name in wanted else None
        for name, value in list(namespace.items())[:MAX_NAMES]
        if isinstance(name, str) and not name.startswith("__") and callable(value)
    }
    values = {name: _describe(namespace, name) for name in wanted if name not in functions}
    return {"names": values, "functions": functions}


def _describe(namespace: MutableMapping[str, Any], name: str) -> dict:
    if name not in namespace:
        return {"missing": True}
    value = namespace[name]
    if isinstance(value, types.ModuleType):
        return {"module": str(getattr(value, "__name__", ""))}
    try:
        return {"value": wire.encode(value)}
    except wire.WireError:
        return {"object": type(value).__name__}


def _parameters(function: Callable) -> list[dict] | None:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    described = []
    for parameter in parameters:
        entry: dict[str, Any] = {"name": parameter.name, "kind": parameter.kind.name}
        default = parameter.default
        if default is not inspect.Parameter.empty:
            if callable(default):
                entry["default_function"] = str(getattr(default, "__name__", repr(default)))
            else:
                try:
                    entry["default"] = wire.encode(default)
                except wire.WireError:
                    entry["default_object"] = type(default).__name__
        described.append(entry)
    return described


def _call(namespace: MutableMapping[str, Any], request: dict) -> dict:
    def function_for(handle: Any) -> Callable:
        kind, reference = handle
        if kind == "student":
            return namespace[reference]
        if kind == "grader":
            return _grader_function(int(reference))
        raise wire.WireError(f"unknown function handle {handle!r}")

    args = wire.decode(request["args"], function_for)
    kwargs = wire.decode(request["kwargs"], function_for)
    replacements = {name: function_for(h) for name, h in request["replace"].items()}
    saved = {name: namespace[name] for name in replacements if name in namespace}
    namespace.update(replacements)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = _target(namespace, request)(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        return {"raised": _raised(error)}
    finally:
        for name in replacements:
            namespace.pop(name, None)
        namespace.update(saved)
    return {
        "warnings": [
            [w.category.__name__, str(w.message)[:MAX_MESSAGE]] for w in caught[:MAX_WARNINGS]
        ],
        "value": wire.encode(result),
        "args_after": wire.encode(args, _placeholder),
        "kwargs_after": wire.encode(kwargs, _placeholder),
    }


def _target(namespace: MutableMapping[str, Any], request: dict) -> Callable:
    """The student's function, or a probe of the test's defined over the student's names
    (without adding the probe's own names to them)."""
    probe = request.get("probe")
    if probe is None:
        return namespace[request["name"]]
    scope = dict(namespace)
    exec(compile(str(probe), "<probe>", "exec"), scope)
    return scope[request["name"]]


def _placeholder(function: Any) -> list:
    """Functions among the arguments come back as a placeholder: only arrays are compared."""
    return ["gone", 0]


def _grader_function(handle: int) -> Callable:
    """A stub whose every call is answered by the grader's function ``handle``.

    While it waits, the grader may call back functions of the kernel's that were
    among the arguments (the student's last-layer activation, say): each such
    request is answered here before the grader's answer comes.
    """

    def call_grader(*args: Any, **kwargs: Any) -> Any:
        local: list[Callable] = []

        def handle_for(function: Callable) -> list:
            grader_handle = getattr(function, GRADER_HANDLE, None)
            if isinstance(grader_handle, int):
                return ["grader", grader_handle]
            local.append(function)
            return ["local", len(local) - 1]

        def function_for(handle: Any) -> Callable:
            kind, reference = handle
            if kind == "grader":
                return _grader_function(int(reference))
            if kind == "local":
                return local[int(reference)]
            raise wire.WireError(f"unknown function handle {handle!r}")

        message = {
            "handle": handle,
            "args": wire.encode(list(args), handle_for),
            "kwargs": wire.encode(kwargs, handle_for),
        }
        while True:
            answer = json.loads(builtins.input(CALLBACK_PROMPT + json.dumps(message)))
            if "call" not in answer:
                break
            try:
                function = function_for(answer["call"])
                inner_args = wire.decode(answer["args"], function_for)
                inner_kwargs = wire.decode(answer["kwargs"], function_for)
                message = {"result": {"value": wire.encode(function(*inner_args, **inner_kwargs))}}
            except KeyboardInterrupt:
                raise
            except BaseException as error:
                message = {"result": {"raised": _raised(error)}}
        if "raised" in answer:
            raise CallbackFailed(": ".join(map(str, answer["raised"])))
        return wire.decode(answer["value"])

    setattr(call_grader, GRADER_HANDLE, handle)
    return call_grader
