"""otter-grader export of the course: ``otter/<assignment>/``, and proof that otter grades alike.

Each nbgrader source notebook is rewritten in the notebook format of ``otter assign`` (the
*master* notebook, ``otter/<assignment>/master/``), which otter-grader's own ``otter assign``
turns into ``otter/<assignment>/autograder/`` (the autograder zip for Gradescope and
``otter run``, with the answer key) and ``otter/<assignment>/student/`` (the student notebook).

How nbgrader's cells map to otter's blocks:

- the assignment config cell names the assignment, pins the requirements (the versions this
  package pins, else the installed ones, of every distribution the notebook and the shipped
  modules import) and ships the ``autograder`` modules that the notebook imports
  (``datasets``, ``seeding``, ``thresholds``, ``testing`` and ``thresholds.json``) as
  *autograder files*: they go into the zip only, and otter copies them beside the
  submission, where the grading kernel imports them. Students install the course package,
  as they do for nbgrader;
- an auto-graded item (solution cell ``<item>``, test cell ``test_<item>``) becomes a question
  ``<item>`` worth the test cell's points: the solution cell in a solution block (nbgrader's
  ``### BEGIN SOLUTION`` becomes otter's ``# BEGIN SOLUTION``), the test cell in a tests
  block, one test case per visible or hidden stretch of the cell, the hidden ones marked
  ``hidden: true`` so that only the autograder zip holds them;
- a free-response cell becomes a manual question (``manual: true``) whose prompt is the
  markdown cell just before it; the model answer stays in the autograder notebook.

What otter's format cannot say, and how the export handles it:

- *Per-cell points*: nbgrader gives a test cell all its points or none, while otter scores
  test cases one by one. Every question is ``all_or_nothing``.
- *Hidden checks run only after the visible ones passed*: otter runs every test case. With
  all-or-nothing points the score is the same; the test cases run in the cell's order, in
  one namespace, so hidden checks see what the visible ones left behind.
- *Test cells run in the notebook's namespace*: hidden tests define helpers at top level
  and call ``substituted(globals(), ...)`` to swap reference functions in for the student's,
  while otter's test cases are functions. Each test case therefore executes the nbgrader
  code with ``exec`` in ``env``, the notebook's own global namespace, so that ``globals()``
  and every substitution reach the student's functions exactly as under nbgrader.
- *Writing to stderr fails a test cell* in nbgrader; otter only looks at exceptions. A test
  case fails when its code writes to ``sys.stderr`` or shows a warning, and it ignores the
  warning categories that :data:`autograder.settings.SILENCED_WARNINGS` lists for
  nbgrader's kernels (appended after the kernel's own filters, as ``PYTHONWARNINGS`` is).
  What C extensions write straight to file descriptor 2 is not seen; TensorFlow's C++ log,
  the one such writer here, is silenced in nbgrader's grading (``TF_CPP_MIN_LOG_LEVEL``).
- *Partial credit from a test cell's value*: nbgrader scores a test cell that ends in an
  expression with a value by that value. Otter cannot, so the last test case of such a
  cell asserts that the value is None and fails with a message otherwise.
- *The grading seed* reaches nbgrader's kernels as ``AUTOGRADER_SEED`` (``c.Autograder.seed``);
  otter's kernels get no such variable, so each test case sets the course's seed unless
  the environment already has one.
- *IPython syntax* (magics, shell escapes) cannot be ``exec``-uted: refused at export, as are
  lines that otter would read as its own directives, and nbgrader's task and read-only
  cells, which have no otter equivalent.
- *The student stub*: nbgrader's ``raise NotImplementedError()`` becomes otter's ``...``.
- *Per-cell time limit* (``c.Execute.timeout``): otter has none; Gradescope limits a whole
  submission, and :func:`check_parity` gives each ``otter run`` the course's submission
  time limit.
"""

from __future__ import annotations

import ast
import copy
import importlib.metadata
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_raw_cell
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from autograder import check, fixtures, notebooks
from autograder.course import Course
from autograder.errors import CourseError
from autograder.seeding import SEED_ENV
from autograder.settings import (
    KERNEL_ENVIRONMENT,
    SILENCED_WARNINGS,
    limits_from,
    load_settings,
)

PACKAGE = "autograder"
OTTER_FOLDER = "otter"
ITEM_METADATA_KEY = "autograder_item"
"""Cell metadata naming the item of an answer cell, so that submissions can be filled in."""

_SOLUTION_MARKER = re.compile(r"^([ \t]*)### (BEGIN|END) SOLUTION[ \t]*$", re.MULTILINE)
_BEGIN_HIDDEN, _END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
_OTTER_IGNORE_CELL = re.compile(r"(##\s*ignore\s*##\s*|#\s*ignore\s*)", re.IGNORECASE)
_OTTER_DIRECTIVE = re.compile(
    r"(#\s?SOLUTION( NO PROMPT)?|# SEED|# (BEGIN |END )?(IGNORE|PROMPT))\s*$", re.MULTILINE
)

_TEST_CASE = '''\
def {function}(env):
    """{label}: nbgrader's test code, run in the notebook's namespace; stderr fails it."""
    import contextlib
    import io
    import os
    import warnings

    os.environ.setdefault({seed_variable!r}, {seed!r})
    code = compile({code!r}, {label!r}, "exec")
    stderr = io.StringIO()
    with warnings.catch_warnings(record=True) as shown, contextlib.redirect_stderr(stderr):
        for category in ({categories}):
            warnings.filterwarnings("ignore", category=category, append=True)
        exec(code, env)
    for warning in shown:
        stderr.write(warnings.formatwarning(
            warning.message, warning.category, warning.filename, warning.lineno
        ))
    assert not stderr.getvalue(), {label!r} + " wrote to stderr:\\n" + stderr.getvalue()
'''


@dataclass(frozen=True)
class Stretch:
    """Consecutive lines of an nbgrader test cell, all visible to students or all hidden."""

    hidden: bool
    code: str


@dataclass(frozen=True)
class OtterExport:
    """Where ``otter assign`` put one assignment's output."""

    assignment: str
    autograder_zip: Path
    autograder_notebook: Path
    student_notebook: Path


# --- nbgrader cells as otter blocks -------------------------------------------------------


def split_test_cell(source: str) -> list[Stretch]:
    """The visible and hidden stretches of a test cell, in order, as nbgrader delimits them."""
    stretches: list[Stretch] = []
    lines: list[str] = []
    hidden = False
    for line in source.split("\n"):
        if _BEGIN_HIDDEN in line or _END_HIDDEN in line:
            if (_BEGIN_HIDDEN in line) == hidden:
                raise ValueError(f"unbalanced hidden-test markers at {line.strip()!r}")
            stretches.append(Stretch(hidden, "\n".join(lines)))
            lines, hidden = [], not hidden
        else:
            lines.append(line)
    if hidden:
        raise ValueError(f"no {_END_HIDDEN!r} after {_BEGIN_HIDDEN!r}")
    stretches.append(Stretch(hidden, "\n".join(lines)))
    return [stretch for stretch in stretches if stretch.code.strip()]


def runnable_test_code(test_id: str, code: str, ends_cell: bool) -> str:
    """``code`` checked to be plain Python; at the end of the cell, its value must be None.

    nbgrader grades a test cell whose last expression has a value by that value (partial
    credit), which otter cannot express; such a test case fails instead.
    """
    try:
        module = ast.parse(code)
    except SyntaxError as error:
        raise ValueError(
            f"{test_id}: not plain Python ({error.msg}, line {error.lineno}); otter's test "
            "cases cannot run IPython syntax such as magics"
        ) from None
    last = module.body[-1] if module.body else None
    if not ends_cell or not isinstance(last, ast.Expr) or _is_print_call(last.value):
        return code
    lines = code.split("\n")
    head = [*lines[: last.lineno - 1], lines[last.lineno - 1][: last.col_offset]]
    tail = [lines[last.end_lineno - 1][last.end_col_offset :], *lines[last.end_lineno :]]
    message = f"{test_id} ends with a value, which nbgrader grades as partial credit"
    expression = ast.get_source_segment(code, last.value)
    return "\n".join(head) + f"assert ({expression}) is None, {message!r}" + "\n".join(tail)


def _is_print_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    )


def check_no_otter_directives(cell: NotebookNode, where: str) -> None:
    """Refuse a cell that ``otter assign`` would read as holding its own directives."""
    first_line = cell.source.split("\n", 1)[0]
    if _OTTER_IGNORE_CELL.match(first_line):
        raise ValueError(f"{where}: otter drops a cell whose first line is {first_line!r}")
    directive = _OTTER_DIRECTIVE.search(cell.source)
    if directive:
        raise ValueError(f"{where}: {directive.group(0).strip()!r} is an otter directive")


def otter_test_case(
    test_id: str, index: int, stretch: Stretch, ends_cell: bool, seed: int
) -> NotebookNode:
    """One otter test case (exception-based format) running a stretch of an nbgrader test cell.

    ``seed`` is the grading seed, which nbgrader's grading passes to kernels as
    ``AUTOGRADER_SEED``; the test case sets it unless the environment already does.
    """
    kind = "hidden" if stretch.hidden else "visible"
    source = _TEST_CASE.format(
        function=f"{test_id}_{index}_{kind}",
        seed_variable=SEED_ENV,
        seed=str(seed),
        label=f"{test_id} ({kind} checks)",
        code=runnable_test_code(test_id, stretch.code, ends_cell),
        categories="".join(f"{name}, " for name in SILENCED_WARNINGS),
    )
    if stretch.hidden:
        source = '""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG\n' + source
    return new_code_cell(source)


def otter_solution_source(source: str) -> str:
    """nbgrader's solution markers as otter's; a cell without markers is all solution."""
    if not _SOLUTION_MARKER.search(source):
        return f"# BEGIN SOLUTION\n{source}\n# END SOLUTION"
    return _SOLUTION_MARKER.sub(r"\1# \2 SOLUTION", source)


def block(kind: str, end: bool = False, config: dict | None = None) -> NotebookNode:
    """An otter block boundary cell such as ``# BEGIN QUESTION`` with its YAML config."""
    source = f"# {'END' if end else 'BEGIN'} {kind}"
    if config:
        source += "\n" + yaml.safe_dump(config, sort_keys=False).rstrip("\n")
    return new_raw_cell(source)


def plain_cell(cell: NotebookNode) -> NotebookNode:
    """A copy of ``cell`` without nbgrader metadata or outputs."""
    result = copy.deepcopy(cell)
    result.metadata.pop("nbgrader", None)
    if result.cell_type == "code":
        result.outputs = []
        result.execution_count = None
    return result


def auto_question_start(cell: NotebookNode, item: notebooks.Item) -> list[NotebookNode]:
    """An auto-graded question up to its solution block's end."""
    solution = plain_cell(cell)
    solution.source = otter_solution_source(cell.source)
    solution.metadata[ITEM_METADATA_KEY] = item.name
    config = {"name": item.name, "points": item.points, "all_or_nothing": True}
    return [block("QUESTION", config=config), block("SOLUTION"), solution, block("SOLUTION", True)]


def auto_question_end(cell: NotebookNode, item: notebooks.Item, seed: int) -> list[NotebookNode]:
    """The tests block made of an nbgrader test cell, which closes the question."""
    stretches = split_test_cell(cell.source)
    cases = [
        otter_test_case(item.test_id, index, stretch, index == len(stretches), seed)
        for index, stretch in enumerate(stretches, start=1)
    ]
    return [block("TESTS"), *cases, block("TESTS", True), block("QUESTION", True)]


def manual_question(
    cell: NotebookNode, item: notebooks.Item, prompt: NotebookNode | None
) -> list[NotebookNode]:
    """A manually graded question: its prompt, then the model answer as the solution."""
    config = {"name": item.name, "manual": True, "points": item.points}
    return [
        block("QUESTION", config=config),
        *([prompt] if prompt is not None else []),
        block("SOLUTION"),
        plain_cell(cell),
        block("SOLUTION", True),
        block("QUESTION", True),
    ]


def to_otter_master(source: NotebookNode, config: dict, seed: int = 0) -> NotebookNode:
    """The otter master notebook of an nbgrader source notebook (see the module docstring).

    ``config`` is the assignment config; ``seed`` the grading seed of the hidden tests.
    """
    items = {item.name: item for item in notebooks.items(source)}
    tests = {item.test_id: item for item in items.values() if not item.manual}
    cells = [new_raw_cell("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False))]
    open_item: notebooks.Item | None = None
    for index, cell in enumerate(source.cells):
        gid = notebooks.grade_id(cell)
        where = f"cell {index + 1}" + (f" ({gid})" if gid else "")
        if gid not in tests:
            check_no_otter_directives(cell, where)
        if gid in items and items[gid].manual:
            if open_item is not None:
                raise ValueError(f"{where}: inside question {open_item.name}")
            prompt = cells.pop() if cells[-1].cell_type == "markdown" else None
            cells += manual_question(cell, items[gid], prompt)
        elif gid in items:
            if open_item is not None:
                raise ValueError(f"{where}: solution before the test cell of {open_item.name}")
            open_item = items[gid]
            cells += auto_question_start(cell, open_item)
        elif gid in tests:
            if open_item is not tests[gid]:
                raise ValueError(f"{where}: a test cell must follow its solution cell")
            cells += auto_question_end(cell, open_item, seed)
            open_item = None
        elif any(notebooks.nbgrader_meta(cell).get(key) for key in ("grade", "locked", "task")):
            raise ValueError(f"{where}: nbgrader's task and read-only cells have no otter form")
        else:
            cells.append(plain_cell(cell))
    if open_item is not None:
        raise ValueError(f"solution {open_item.name} has no test cell after it")
    master = copy.deepcopy(source)
    master.cells = cells
    return master


# --- what the grading environment needs --------------------------------------------------


def code_of(notebook: NotebookNode) -> list[str]:
    """The source of every code cell."""
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def imported_modules(sources: Iterable[str]) -> set[str]:
    """Every module named by an ``import`` in ``sources`` (dotted, as written)."""
    found: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def package_folder() -> Path:
    """The folder of the installed course package, the one grading kernels import."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the {PACKAGE} package is not importable")
    return Path(spec.origin).parent


def shipped_modules(sources: Iterable[str]) -> list[Path]:
    """The package's module files that ``sources`` import, directly or through each other."""
    folder = package_folder()
    pending = set(imported_modules(sources))
    shipped: set[Path] = set()
    while pending:
        prefix, _, module = pending.pop().partition(".")
        path = folder / f"{module}.py"
        if prefix == PACKAGE and "." not in module and path not in shipped and path.is_file():
            shipped.add(path)
            pending |= imported_modules([path.read_text()])
    return sorted(shipped)


def ship_package(modules: list[Path], target: Path) -> None:
    """Copy ``modules``, the package's ``__init__.py`` and its JSON data into ``target``."""
    folder = package_folder()
    target.mkdir(parents=True, exist_ok=True)
    for path in [folder / "__init__.py", *modules, *sorted(folder.glob("*.json"))]:
        shutil.copy2(path, target / path.name)


def requirements(sources: Iterable[str]) -> list[str]:
    """Pinned requirements of everything ``sources`` import (stdlib and the package aside).

    A distribution this package pins, or one such a distribution needs, gets this
    package's pin; one it does not pin gets the installed version.
    """
    top_level = {name.split(".")[0] for name in imported_modules(sources)}
    distributions = importlib.metadata.packages_distributions()
    imported = {
        canonicalize_name(dist)
        for name in top_level - set(sys.stdlib_module_names) - {PACKAGE}
        for dist in distributions.get(name, [])
    }
    pins = {
        canonicalize_name(requirement.name): str(requirement)
        for requirement in map(Requirement, importlib.metadata.requires(PACKAGE) or [])
    }
    needed = _with_dependencies(imported)
    lines = {pins[name] for name in needed if name in pins}
    lines |= {f"{name}=={importlib.metadata.version(name)}" for name in imported - pins.keys()}
    return sorted(lines)


def _with_dependencies(names: set[str]) -> set[str]:
    """``names`` and every installed distribution they need (extras aside)."""
    found: set[str] = set()
    pending = set(names)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        try:
            declared = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in map(Requirement, declared):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.add(canonicalize_name(requirement.name))
    return found


def assignment_config(assignment: str) -> dict:
    """The assignment config cell's settings."""
    return {
        "name": assignment,
        "requirements": "requirements.txt",
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "autograder_files": [PACKAGE],
        "tests": {"ok_format": False},
        "generate": True,
    }


# --- running otter-grader -----------------------------------------------------------------


def grading_environment() -> dict[str, str]:
    """This process's environment with the kernel settings nbgrader's grading uses."""
    return {**os.environ, **KERNEL_ENVIRONMENT}


PORT_COLLISION = "Address already in use"
ATTEMPTS = 3


def run_otter(arguments: list[str], timeout: float | None = None) -> None:
    """Run otter-grader's command line; raise with its output when it fails.

    otter's kernels listen on TCP ports chosen free and then released, so two otter
    runs side by side can pick the same port; such a run is started again.
    """
    for _ in range(ATTEMPTS):
        completed = subprocess.run(
            [sys.executable, "-m", "otter", *arguments],
            env=grading_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = completed.stdout + completed.stderr
        if completed.returncode == 0:
            return
        if PORT_COLLISION not in output:
            break
    raise CourseError(f"otter {' '.join(arguments[:1])} failed:\n{output[-4000:]}")


def write_master(course: Course, assignment: str, folder: Path) -> Path:
    """Write the master notebook with its requirements and shipped modules under ``folder``."""
    source = notebooks.read(course.source_notebook(assignment))
    master_dir = folder / "master"
    master = master_dir / course.source_notebook(assignment).name
    seed = load_settings(course).seed
    notebooks.write(to_otter_master(source, assignment_config(assignment), seed), master)
    sources = code_of(source)
    modules = shipped_modules(sources)
    ship_package(modules, master_dir / PACKAGE)
    pinned = requirements([*sources, *(path.read_text() for path in modules)])
    (master_dir / "requirements.txt").write_text("\n".join(pinned) + "\n")
    return master


def export_assignment(
    course: Course, assignment: str, target: Path | None = None, run_tests: bool = True
) -> OtterExport:
    """Regenerate ``otter/<assignment>/`` (or ``target``) with ``otter assign``.

    With ``run_tests``, ``otter assign`` also grades the answer key with the zip it made
    and fails unless every auto-graded point is earned.
    """
    folder = (target or course.root / OTTER_FOLDER / assignment).resolve()
    shutil.rmtree(folder, ignore_errors=True)
    master = write_master(course, assignment, folder)
    run_otter(["assign", str(master), str(folder), *([] if run_tests else ["--no-run-tests"])])
    zips = sorted((folder / "autograder").glob(f"{master.stem}-autograder_*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"otter assign left {len(zips)} autograder zips in {folder}")
    return OtterExport(
        assignment,
        autograder_zip=zips[0],
        autograder_notebook=folder / "autograder" / master.name,
        student_notebook=folder / "student" / master.name,
    )


def with_answers(student: NotebookNode, sources: dict[str, str]) -> NotebookNode:
    """A copy of the otter student notebook whose answer cells hold ``sources`` (by item)."""
    result = copy.deepcopy(student)
    filled = set()
    for cell in result.cells:
        item = cell.metadata.get(ITEM_METADATA_KEY)
        if item in sources:
            cell.source = sources[item]
            filled.add(item)
    if filled != set(sources):
        raise KeyError(f"no answer cells for {sorted(set(sources) - filled)}")
    return result


def otter_run(
    export: OtterExport, notebook: NotebookNode, workdir: Path, timeout: float | None = None
) -> dict[str, float]:
    """Grade ``notebook`` with ``otter run`` and the export's zip: points per question."""
    workdir.mkdir(parents=True, exist_ok=True)
    submission = workdir / export.student_notebook.name
    notebooks.write(notebook, submission)
    zip_path = str(export.autograder_zip)
    run_otter(["run", "-a", zip_path, "-o", str(workdir), "--no-logo", str(submission)], timeout)
    results = json.loads((workdir / "results.json").read_text())
    return {test["name"]: float(test["score"]) for test in results["tests"] if "score" in test}


# --- parity with nbgrader -------------------------------------------------------------------


@dataclass(frozen=True)
class ParityRow:
    """One submission graded by otter, beside the points nbgrader's check requires of it."""

    assignment: str
    submission: str
    points: dict[str, float]
    nbgrader: dict[str, float]
    otter: dict[str, float]

    @property
    def nbgrader_failed(self) -> list[str]:
        return [item for item, got in self.nbgrader.items() if got < self.points[item]]

    @property
    def otter_failed(self) -> list[str]:
        return [item for item in self.points if self.otter.get(item, 0.0) < self.points[item]]

    @property
    def matches(self) -> bool:
        return all(
            math.isclose(self.otter.get(item, -1.0), expected, abs_tol=1e-6)
            for item, expected in self.nbgrader.items()
        )


def parity_submissions(course: Course, assignment: str) -> list[fixtures.Submission]:
    """The submissions ``autograder check`` grades: solution, release, combined fixtures.

    Only their names and applied fixtures are used, so the nbgrader notebooks built along
    are filled from the source notebook instead of an nbgrader release.
    """
    source = notebooks.read(course.source_notebook(assignment))
    found = fixtures.discover(course, assignment)
    submissions = fixtures.reference_submissions(source, source)
    for kind in fixtures.HONEST_KINDS:
        submissions += fixtures.combined_submissions(source, source, found, kind)
    return submissions


def otter_submission(
    student: NotebookNode, solutions: dict[str, str], submission: fixtures.Submission
) -> NotebookNode:
    """``submission`` in otter's student notebook: the same answer in every answer cell.

    ``solutions`` holds the reference answer of each auto-graded item.
    """
    if submission.name == "release":
        return student
    applied = {fixture.item: fixture.source for fixture in submission.applied}
    return with_answers(student, solutions | {i: s for i, s in applied.items() if i in solutions})


def check_parity(
    course: Course,
    export: OtterExport,
    workdir: Path,
    only: set[str] | None = None,
    workers: int = 1,
    say: Callable[[str], None] = print,
) -> list[ParityRow]:
    """Grade the check's submissions (or those named in ``only``) with ``otter run``.

    Each row holds the points nbgrader's check requires (alternatives keep their item's
    points, mistakes lose exactly theirs, the release earns nothing) and otter's points.
    Each ``otter run`` gets the course's whole-submission time limit.
    """
    assignment = export.assignment
    timeout = limits_from(course, load_settings(course)).submission_timeout
    source = notebooks.read(course.source_notebook(assignment))
    student = notebooks.read(export.student_notebook)
    auto = [item for item in notebooks.items(source) if not item.manual]
    solutions = {
        item: code
        for item, code in fixtures.solution_sources(source).items()
        if item in {a.name for a in auto}
    }
    chosen = [
        submission
        for submission in parity_submissions(course, assignment)
        if only is None or submission.name in only
    ]

    def grade(submission: fixtures.Submission) -> ParityRow:
        notebook = otter_submission(student, solutions, submission)
        otter = otter_run(export, notebook, workdir / submission.name, timeout)
        say(f"  [{assignment}] {submission.name}: graded by otter")
        return ParityRow(
            assignment,
            submission.name,
            points={item.name: item.points for item in auto},
            nbgrader={
                item.name: check.expected_points(item.name, submission, item.points)
                for item in auto
            },
            otter=otter,
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(grade, chosen))


def parity(
    course: Course,
    assignments: list[str],
    workers: int = 1,
    say: Callable[[str], None] = print,
) -> list[ParityRow]:
    """Export each assignment to ``otter/<assignment>/`` and grade it with :func:`check_parity`."""
    rows: list[ParityRow] = []
    for assignment in assignments:
        say(f"exporting {assignment}")
        export = export_assignment(course, assignment, run_tests=False)
        with tempfile.TemporaryDirectory(prefix=f"autograder-otter-{assignment}-") as tmp:
            rows += check_parity(course, export, Path(tmp), workers=workers, say=say)
    return rows


def format_parity_table(rows: list[ParityRow]) -> str:
    """One line per submission: both scores, the items each one failed, and whether they agree."""
    header = (
        "assignment",
        "submission",
        "nbgrader",
        "otter",
        "nbgrader fails",
        "otter fails",
        "match",
    )
    lines = [header]
    for row in rows:
        total = sum(row.points.values())
        lines.append(
            (
                row.assignment,
                row.submission,
                f"{sum(row.nbgrader.values()):g}/{total:g}",
                f"{sum(row.otter.get(item, 0.0) for item in row.points):g}/{total:g}",
                _failed(row.nbgrader_failed, row.points),
                _failed(row.otter_failed, row.points),
                "yes" if row.matches else "NO",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    text.insert(1, "  ".join("-" * width for width in widths))
    agreed = sum(row.matches for row in rows)
    text.append(f"{agreed}/{len(rows)} submissions graded alike by nbgrader and otter")
    return "\n".join(line.rstrip() for line in text)


def _failed(items: list[str], points: dict[str, float]) -> str:
    if not items:
        return "-"
    if len(items) == len(points):
        return "all"
    return ", ".join(items)
