"""Auto-graded assignments for an introductory deep-learning course.

The package drives nbgrader to release, grade and check the course in ``source/``.
Modules used from inside grading kernels (``datasets``, ``seeding``, ``thresholds``)
import nothing heavy at module level.
"""

__version__ = "0.1.0"
