"""The grader's line to a running kernel: one request, one plain-data reply.

A second client on the kernel that grades the submission sends
:func:`autograder.kernel_calls.serve` requests between cells, reads the one reply
display, and answers the kernel's calls of grader functions on the stdin channel.
Replies are decoded by :mod:`autograder.wire`; whatever the kernel sends beyond one
well-formed reply within the deadline makes the request fail, never the grader.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import zmq
from jupyter_client.blocking import BlockingKernelClient

from autograder import wire
from autograder.kernel_calls import CALLBACK_PROMPT, MAX_MESSAGE, REPLY_MIME

_POLL_MS = 200


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

    def close(self) -> None:
        self._client.stop_channels()

    def request(self, payload: dict, grader_functions: list[Callable], deadline: float) -> dict:
        """The kernel's reply to ``payload``: a dict, checked to be one.

        ``grader_functions`` answer the kernel's calls of the stubs named by index.
        """
        code = (
            "__import__('autograder.kernel_calls', fromlist=['serve'])"
            f".serve(globals(), {json.dumps(payload)!r})"
        )
        self._msg_id = self._client.execute(
            code, store_history=False, allow_stdin=True, stop_on_error=False
        )
        self._deadline = deadline
        self._grader_functions = grader_functions
        self._replies: list[Any] = []
        self._idle = False
        while not self._idle:
            call = self._next_input()
            if call is not None:
                self._answer(call)
        if len(self._replies) != 1 or not isinstance(self._replies[0], dict):
            raise LinkFailed(f"the kernel sent {len(self._replies)} replies to one call, not 1")
        return self._replies[0]

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
            message = self._next_input()
            if message is None:
                if self._idle:
                    raise LinkFailed("the kernel finished while a function of its was called")
                continue
            if "result" not in message:
                self._answer(message)  # it calls the grader back in turn
                continue
            result = message["result"]
            if not isinstance(result, dict):
                raise wire.WireError("malformed result")
            if "raised" in result:
                raise CallbackFailedInKernel(": ".join(map(str, result["raised"]))[:MAX_MESSAGE])
            return wire.decode(result.get("value"), self._function_for)

    def _next_input(self) -> dict | None:
        """Wait for the next message of the kernel; the call it asks for on stdin, if any."""
        poller = zmq.Poller()
        iopub, stdin = self._client.iopub_channel, self._client.stdin_channel
        poller.register(iopub.socket, zmq.POLLIN)
        poller.register(stdin.socket, zmq.POLLIN)
        while True:
            left = self._deadline - time.monotonic()
            if left <= 0:
                self._interrupt()
                raise LinkFailed("did not return in the time left to the test")
            ready = dict(poller.poll(min(_POLL_MS, int(left * 1000) + 1)))
            if not ready and not self._is_alive():
                raise KernelDied("the kernel died (memory limit or crash)")
            if iopub.socket in ready:
                self._note(iopub.get_msg(timeout=0))
                if self._idle:
                    return None
            if stdin.socket in ready:
                message = stdin.get_msg(timeout=0)
                if message.get("msg_type") == "input_request":
                    return self._parsed_input(message)

    def _note(self, message: dict) -> None:
        if message.get("parent_header", {}).get("msg_id") != self._msg_id:
            return
        kind = message.get("msg_type")
        content = message.get("content", {})
        if kind == "display_data" and REPLY_MIME in content.get("data", {}):
            # Only the first reply is kept; the others are counted, so a flood costs nothing.
            self._replies.append(content["data"][REPLY_MIME] if not self._replies else None)
        elif kind == "status" and content.get("execution_state") == "idle":
            self._idle = True

    def _parsed_input(self, message: dict) -> dict:
        prompt = str(message.get("content", {}).get("prompt", ""))
        try:
            if message.get("parent_header", {}).get("msg_id") != self._msg_id:
                raise wire.WireError("a request for input outside a call")
            if not prompt.startswith(CALLBACK_PROMPT):
                raise wire.WireError("the submission asked for input")
            parsed = json.loads(prompt[len(CALLBACK_PROMPT) :])
            if not isinstance(parsed, dict):
                raise wire.WireError("malformed call")
            return parsed
        except (ValueError, RecursionError) as error:
            return {"invalid": f"{type(error).__name__}: {error}"}

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
