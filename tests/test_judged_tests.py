"""The grader's side of judged tests: plain data only, and verdicts the kernel cannot reach."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator

import numpy as np
import pytest
from jupyter_client.manager import start_new_kernel

from autograder import wire
from autograder.judged_tests import free_names, judged_outside, run_hidden_tests, split_hidden
from autograder.kernel_link import KernelLink, LinkFailed

STUDENT_CODE = """
import numpy as np

def relu(z):
    return np.maximum(z, 0)

def scale_in_place(a):
    a *= 2
    return None

def apply_twice(f, x):
    return f(f(x))

def layer(x, activation=relu):
    return activation(x + 1)

def network(x):
    return layer(x) * 10

def broken(x):
    raise ValueError("not done yet")

def gives_object():
    return object()

def fakes_a_reply():
    return input("autograder-reply:{not json")

def ends_the_session():
    raise KeyboardInterrupt

def asks_for_input():
    return input("the answer, please: ")

def sleeps():
    import time
    time.sleep(60)

np.allclose = lambda *args, **kwargs: True
"""


@pytest.fixture(scope="module")
def link() -> Iterator[KernelLink]:
    manager, client = start_new_kernel()
    client.execute_interactive(STUDENT_CODE, timeout=60)
    link = KernelLink(manager.get_connection_info(), manager.is_alive, manager.interrupt_kernel)
    yield link
    link.close()
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def judge(code: str, link: KernelLink) -> tuple[bool, str]:
    verdict = run_hidden_tests(code, link, time.monotonic() + 60)
    return verdict.passed, verdict.message


def test_results_and_in_place_changes_come_back_as_data(link: KernelLink) -> None:
    code = (
        "import numpy as np\n"
        "assert np.array_equal(relu(np.array([-1.0, 2.0])), [0.0, 2.0])\n"
        "a = np.ones(3)\n"
        "scale_in_place(a)\n"
        "assert np.array_equal(a, [2.0, 2.0, 2.0]), a\n"
        "assert not np.allclose(relu(np.array([-1.0])), [5.0]), 'the kernel patched numpy'\n"
    )
    assert judge(code, link) == (True, "")


def test_grader_functions_are_called_back_and_swapped_in(link: KernelLink) -> None:
    code = (
        "import inspect\n"
        "assert apply_twice(lambda v: v + 3, 1) == 7\n"
        "from autograder.testing import substituted\n"
        "with substituted(globals(), layer=lambda x: -x):\n"
        "    assert network(2) == -20\n"
        "assert network(2) == 30\n"
        "default = inspect.signature(layer).parameters['activation'].default\n"
        "assert default.__name__ == 'relu'\n"
    )
    assert judge(code, link) == (True, "")


def test_failures_name_the_call_and_what_came_back(link: KernelLink) -> None:
    assert judge("assert relu(-3) == 1, f'relu(-3) gave {relu(-3)}'", link) == (
        False,
        "relu(-3) gave 0",
    )
    passed, message = judge("broken(1)", link)
    assert not passed and message == (
        "StudentCodeRaised: broken(...) raised ValueError: not done yet"
    )
    passed, message = judge("gives_object()", link)
    assert not passed and "not plain data" in message
    passed, message = judge("undefined_function(1)", link)
    assert not passed and "undefined_function" in message


def test_probes_run_in_the_kernel_and_leave_no_names_there(link: KernelLink) -> None:
    code = (
        "from autograder.probes import in_kernel\n"
        "@in_kernel\n"
        "def _probe(x):\n"
        "    import numpy\n"
        "    return float(numpy.sum(relu(numpy.array([x, -x]))))\n"
        "assert _probe(-2.0) == 2.0 and _probe(3.0) == 3.0\n"
    )
    assert judge(code, link) == (True, "")
    failing = code.replace("relu(numpy.array([x, -x]))", "broken(x)")
    assert judge(failing, link) == (
        False,
        "StudentCodeRaised: the submission's code, run by the test, raised ValueError in "
        "broken: not done yet",
    )
    passed, message = judge("assert '_probe' not in globals()\n_probe", link)
    assert not passed and "_probe" in message


def test_a_kernel_that_breaks_the_protocol_fails_only_its_test(link: KernelLink) -> None:
    with pytest.raises(LinkFailed, match="malformed reply"):
        judge("fakes_a_reply()", link)
    with pytest.raises(LinkFailed, match="stopped answering"):
        judge("ends_the_session()", link)
    # input() gets the grader's refusal, nothing else.
    assert judge("assert 'asked for input' in asks_for_input()", link) == (True, "")
    started = time.monotonic()
    with pytest.raises(LinkFailed, match="time left"):
        run_hidden_tests("sleeps()", link, time.monotonic() + 2)
    assert time.monotonic() - started < 10
    assert judge("assert relu(2.0) == 2.0", link) == (True, ""), "the kernel still answers"


def test_independent_cases_earn_their_share(link: KernelLink) -> None:
    code = (
        "from autograder.testing import case\n"
        "for x in [-1.0, 0.0, 2.0, 3.0]:\n"
        "    with case(f'relu({x})'):\n"
        "        assert relu(x) == x, f'got {relu(x)}'\n"
    )
    verdict = run_hidden_tests(code, link, time.monotonic() + 60)
    assert not verdict.passed and verdict.fraction == 0.75
    assert verdict.message == "1 of 4 cases failed. relu(-1.0): got 0.0"
    verdict = run_hidden_tests(
        code + "assert False, 'outside any case'", link, time.monotonic() + 60
    )
    assert (verdict.passed, verdict.fraction) == (False, 0.0), "a failure outside a case fails all"


def test_plain_data_round_trips() -> None:
    value = [1, 2.5, None, True, "x", (np.arange(3), np.float64(2.0)), {"a": np.array(["u"])}]
    decoded = wire.loads(wire.dumps(value))
    assert decoded[:5] == value[:5] and isinstance(decoded[5], tuple)
    assert np.array_equal(decoded[5][0], np.arange(3)) and decoded[5][1] == 2.0
    assert decoded[6]["a"].tolist() == ["u"]


def _npy(array: np.ndarray, allow_pickle: bool = False, claimed_shape: str = "") -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    raw = buffer.getvalue()
    if claimed_shape:  # a header that promises far more data than follows
        raw = raw.replace(str(array.shape).encode(), claimed_shape.encode().ljust(5))
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "data",
    [
        {"array": _npy(np.array([object()], dtype=object), allow_pickle=True)},
        {"array": _npy(np.zeros(4), claimed_shape="(99999999999,)")},
        {"list": [{"list": []}] * 2 + [{"code": "import os"}]},
        {"int": "1" * 10000},
        "not tagged",
    ],
)
def test_what_is_not_plain_data_is_refused(data: object) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(data)


def test_deep_nesting_is_refused() -> None:
    nested: object = {"none": True}
    for _ in range(100):
        nested = {"list": [nested]}
    with pytest.raises(wire.WireError):
        wire.decode(nested)


def test_objects_are_not_encoded() -> None:
    class Liar(float):
        def __eq__(self, other: object) -> bool:
            return True

    with pytest.raises(wire.WireError):
        wire.encode(Liar(1.0))


def test_hidden_part_and_free_names() -> None:
    source = (
        "x = f(1)\n### BEGIN HIDDEN TESTS\nimport numpy as np\n"
        "assert g(np.ones(2)) == h\n### END HIDDEN TESTS\n"
    )
    visible, hidden = split_hidden(source)
    assert visible == "x = f(1)\n" and "assert g" in (hidden or "")
    assert sorted(free_names(hidden or "")) == ["g", "h"]
    assert judged_outside(source)
    assert not judged_outside(source.replace("import", "# autograder: runs in the kernel\nimport"))
