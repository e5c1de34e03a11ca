import os

import pytest
from hypothesis import HealthCheck, settings

import linuxmm
import linuxmm.reference

settings.register_profile("default", max_examples=100, deadline=None)
# CI explores a fixed set of examples (derandomize), so that a submission's result does not
# depend on luck; developers' runs ("default") draw new examples every time.
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("expensive", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# tools/sanitize_run: the C core under ASan/UBSan runs several times slower; fewer, fixed examples.
settings.register_profile("sanitize", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))

BACKENDS = {"c": linuxmm, "reference": linuxmm.reference}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request):
    """The module whose classes a behaviour test uses: linuxmm (C) or linuxmm.reference."""
    return BACKENDS[request.param]


@pytest.fixture(params=sorted(BACKENDS))
def backend_name(request):
    """'c' or 'reference', for classes that take backend= (Kernel)."""
    return request.param
