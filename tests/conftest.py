import os

import pytest
from hypothesis import HealthCheck, settings

# CI can ask for more random examples: ARCHSWEEP_HYPOTHESIS_EXAMPLES=1000.
settings.register_profile(
    "archsweep",
    max_examples=int(os.environ.get("ARCHSWEEP_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("archsweep")


@pytest.fixture(params=["rust", "python"])
def backend(request):
    """Every test that takes this runs against both cores."""
    return request.param
