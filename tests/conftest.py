import os
import signal

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


# The signal tests need Ctrl-C, SIGTERM and SIGHUP at their defaults, as in a
# terminal. A run under nohup, or in a background job, inherits some of them
# ignored, and archsweep leaves an ignored signal alone, by design: reset them
# here, for this process and the ones the tests start.
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.fixture
def conv_space():
    """A space of 450 conv nets, 361 under 3,000 parameters, its branches of very unequal sizes
    (test_sample.py, test_optuna.py)."""
    import archsweep as asw

    L = asw.layers
    return asw.Model((16, 16, 3), [
        L.Conv2D(asw.choice(4, 8, 16, 24, 32), asw.choice(1, 3, 5)),
        asw.repeat(L.Conv2D(asw.choice(4, 8), 3), 0, 3),
        L.GlobalAveragePooling2D(),
        L.Dense(asw.choice(1, 10)),
    ])  # fmt: skip
