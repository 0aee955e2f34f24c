import pytest

# support.py's helpers assert like the tests that call them: the same failure detail.
pytest.register_assert_rewrite("tests.integration.support")
