"""The grader's line to a running kernel: requests and plain-data replies on stdin.

A second client on the kernel that grades the submission opens one
:func:`autograder.kernel_calls.session` per test cell, between cells: requests go as
input replies, each reply comes back as the prompt of the kernel's next ``input()``,
and the kernel's calls of grader functions are answered the same way. Replies are
decoded by :mod:`autograder.wire`; a malformed reply, a timeout or a session the
kernel ends early makes the test fail, never the grader.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import zmq
from jupyter_client.blocking import BlockingKernelClient

from autograder import wire
from autograder.kernel_calls import CALLBACK_PROMPT, END, MAX_MESSAGE, REPLY_PROMPT

_POLL_MS = 200
END_GRACE_SECONDS = 5
SESSION_CODE = "__import__('autograder.kernel_calls', fromlist=['session']).session(globals())"
# Imports the kernel's side with the submission's folder off the path, so that none of
# the student's files (an ``autograder/``, a ``numpy.py``) stands in for what it imports.
IMPORT_RUNTIME = """\
import os as _autograder_os, sys as _autograder_sys
_autograder_path = list(_autograder_sys.path)
_autograder_sys.path[:] = [
    p for p in _autograder_path if p not in ("", ".", _autograder_os.getcwd())
]
try:
    __import__("autograder.kernel_calls")
finally:
    _autograder_sys.path[:] = _autograder_path
    del _autograder_os, _autograder_sys, _autograder_path
"""


class LinkFailed(Exception):
    """No usable reply: a timeout, a dead kernel, or a malformed or missing reply."""

    ends_the_test = True  # not one failed case of a test: the kernel cannot answer


class KernelDied(LinkFailed):
    """The kernel stopped while a request was running."""


class KernelLink:
    """Requests to the kernel at ``connection_info``; ``is_alive`` and ``interrupt`` act
    on that kernel."""

    def __init__(
        self,
        connection_info: dict,
        is_alive: Callable[[], bool],
        interrupt: Callable[[], None],
    ) -> None:
        self._client = BlockingKernelClient()
        self._client.load_connection_info(connection_info)
        self._client.start_channels(hb=False)
        self._is_alive = is_alive
        self._interrupt = interrupt
        self._msg_id = ""
        self._idle = True
        self._waiting_for_request = False
        self._interrupted = False
        self._raised = ""
        self._grader_functions: list[Callable] = []

    def close(self) -> None:
        self._client.stop_channels()

    @contextmanager
    def session(self, deadline: float, import_runtime: bool = False) -> Iterator[None]:
        """One execution in the kernel that answers the requests made within it.

        It ends cleanly when the kernel waits for a request; otherwise (a timeout, a
        reply that broke the protocol) the kernel is interrupted, so the next cell
        never queues behind a session that is still open. ``import_runtime``: import
        the kernel's side first, as :data:`IMPORT_RUNTIME` does.
        """
        self._deadline = deadline
        code = IMPORT_RUNTIME + SESSION_CODE if import_runtime else SESSION_CODE
        # Silent: no input echo, history or post-execute hooks, only the session.
        self._msg_id = self._client.execute(
            code, silent=True, store_history=False, allow_stdin=True, stop_on_error=False
        )
        self._idle, self._waiting_for_request, self._interrupted = False, False, False
        self._raised = ""
        try:
            self._reply()  # the kernel's first prompt says it is ready
            yield
        finally:
            self._end()

    def request(self, payload: dict, grader_functions: list[Callable]) -> dict:
        """The kernel's reply to ``payload``: a dict, checked to be one.

        ``grader_functions`` answer the kernel's calls of the stubs named by index.
        """
        if not self._waiting_for_request:
            raise LinkFailed("the kernel is not waiting for a request")
        self._grader_functions = grader_functions
        self._waiting_for_request = False
        self._client.input(json.dumps(payload))
        return self._reply()

    def _reply(self) -> dict:
        while True:
            kind, message = self._next_input()
            if kind == "reply":
                self._waiting_for_request = True
                return message
            if kind == "idle":
                raised = f" ({self._raised})" if self._raised else ""
                raise LinkFailed(f"the kernel stopped answering before the test ended{raised}")
            self._answer(message)

    def _end(self) -> None:
        if self._idle:
            return
        if not self._waiting_for_request:
            self._stop()
            return
        self._waiting_for_request = False
        # A test that ended just at its deadline keeps its verdict: ending takes a moment.
        self._deadline = max(self._deadline, time.monotonic() + END_GRACE_SECONDS)
        self._client.input(json.dumps({"op": END}))
        while self._next_input()[0] != "idle":
            pass  # what the kernel asks after the end goes unanswered

    def _stop(self) -> None:
        if not self._interrupted:
            self._interrupted = True
            self._interrupt()

    def call_kernel_function(self, index: int, args: tuple, kwargs: dict) -> Any:
        """Call a function the kernel passed to a grader function that is running now."""
        self._client.input(
            json.dumps(
                {
                    "call": ["local", index],
                    "args": wire.encode(list(args), self._handle),
                    "kwargs": wire.encode(dict(kwargs), self._handle),
                }
            )
        )
        while True:
            kind, message = self._next_input()
            if kind != "call":
                raise LinkFailed("the kernel replied while a function of its was called")
            if "result" not in message:
                self._answer(message)  # it calls the grader back in turn
                continue
            result = message["result"]
            if not isinstance(result, dict):
                raise wire.WireError("malformed result")
            if "raised" in result:
                raise CallbackFailedInKernel(": ".join(map(str, result["raised"]))[:MAX_MESSAGE])
            return wire.decode(result.get("value"), self._function_for)

    def _next_input(self) -> tuple[str, dict]:
        """The next thing the kernel asks on stdin: ``("reply", the reply)`` or
        ``("call", the call of a grader function)``; ``("idle", {})`` once the
        session's execution has ended."""
        poller = zmq.Poller()
        iopub, stdin = self._client.iopub_channel, self._client.stdin_channel
        poller.register(iopub.socket, zmq.POLLIN)
        poller.register(stdin.socket, zmq.POLLIN)
        while True:
            left = self._deadline - time.monotonic()
            if left <= 0:
                self._stop()
                raise LinkFailed("did not return in the time left to the test")
            ready = dict(poller.poll(min(_POLL_MS, int(left * 1000) + 1)))
            if not ready and not self._is_alive():
                raise KernelDied("the kernel died (memory limit or crash)")
            if iopub.socket in ready:
                self._note(iopub.get_msg(timeout=0))
                if self._idle:
                    return "idle", {}
            if stdin.socket in ready:
                message = stdin.get_msg(timeout=0)
                if message.get("msg_type") == "input_request":
                    return self._parsed_input(message)

    def _note(self, message: dict) -> None:
        if message.get("parent_header", {}).get("msg_id") != self._msg_id:
            return
        content = message.get("content", {})
        if message.get("msg_type") == "status" and content.get("execution_state") == "idle":
            self._idle = True
        elif message.get("msg_type") == "error":
            self._raised = f"{content.get('ename')}: {content.get('evalue')}"[:MAX_MESSAGE]

    def _parsed_input(self, message: dict) -> tuple[str, dict]:
        prompt = str(message.get("content", {}).get("prompt", ""))
        if message.get("parent_header", {}).get("msg_id") != self._msg_id:
            return "call", {"invalid": "a request for input outside a call"}
        if prompt.startswith(REPLY_PROMPT):
            try:
                reply = json.loads(prompt[len(REPLY_PROMPT) :])
            except (ValueError, RecursionError) as error:
                raise LinkFailed(f"sent a malformed reply ({type(error).__name__})") from None
            if not isinstance(reply, dict):
                raise LinkFailed("sent a reply that is not a mapping")
            return "reply", reply
        if not prompt.startswith(CALLBACK_PROMPT):
            return "call", {"invalid": "the submission asked for input"}
        try:
            parsed = json.loads(prompt[len(CALLBACK_PROMPT) :])
        except (ValueError, RecursionError) as error:
            return "call", {"invalid": f"{type(error).__name__}: {error}"}
        if not isinstance(parsed, dict):
            return "call", {"invalid": "malformed call"}
        return "call", parsed

    def _answer(self, call: dict) -> None:
        """Run the grader function the kernel calls and send what it returns or raised."""
        try:
            if "invalid" in call:
                raise wire.WireError(str(call["invalid"]))
            handle = int(call["handle"])
            if not 0 <= handle < len(self._grader_functions):
                raise wire.WireError(f"no grader function {handle}")
            args = wire.decode(call["args"], self._function_for)
            kwargs = wire.decode(call["kwargs"], self._function_for)
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise wire.WireError("malformed call")
            result = self._grader_functions[handle](*args, **kwargs)
            answer = {"value": wire.encode(result, self._handle)}
        except LinkFailed:
            raise
        except Exception as error:
            answer = {"raised": [type(error).__name__, str(error)[:MAX_MESSAGE]]}
        self._client.input(json.dumps(answer))

    def _function_for(self, handle: Any) -> Callable:
        """A function the kernel names in a call: the grader's own, or one of the kernel's."""
        if not (isinstance(handle, list) and len(handle) == 2):
            raise wire.WireError(f"malformed function handle {handle!r}")
        kind, reference = handle
        known = isinstance(reference, int) and 0 <= reference < len(self._grader_functions)
        if kind == "grader" and known:
            return self._grader_functions[reference]
        if kind == "local" and isinstance(reference, int):
            return KernelFunction(self, reference)
        raise wire.WireError(f"unknown function handle {handle!r}")

    def _handle(self, function: Any) -> list:
        if isinstance(function, KernelFunction):
            return ["local", function.index]
        named = getattr(function, "student_function_name", None)
        if isinstance(named, str):
            return ["student", named]
        self._grader_functions.append(function)
        return ["grader", len(self._grader_functions) - 1]


class CallbackFailedInKernel(Exception):
    """A function of the kernel's, called from a grader function, raised."""


class KernelFunction:
    """A function of the kernel's, passed to a grader function, callable while it runs."""

    def __init__(self, link: KernelLink, index: int) -> None:
        self._link = link
        self.index = index
        self.__name__ = f"function {index} of the submission"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._link.call_kernel_function(self.index, args, kwargs)
