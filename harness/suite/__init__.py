"""Task suites in the Terminal-Bench 2.0 / Harbor layout."""

from harness.suite.parse import Suite, SuiteError, load_suite
from harness.suite.task import TaskSpec

__all__ = ["Suite", "SuiteError", "TaskSpec", "load_suite"]
