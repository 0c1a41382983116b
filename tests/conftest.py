"""Shared test fixtures.

The conformance fixtures (random-weight networks in every official format, made with the official
code) live outside the repository: in `../shared/fixtures` beside a checkout, or wherever
$STYLEGAN_INVERT_FIXTURES points (either the `fixtures` folder or its parent). Tests that need them
skip with the reason when they are absent, as in a user's clone; `.ci/run` insists they are present.
"""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_fixtures_dir():
    candidates = []
    if os.environ.get("STYLEGAN_INVERT_FIXTURES"):
        env = Path(os.environ["STYLEGAN_INVERT_FIXTURES"])
        candidates += [env, env / "fixtures"]
    candidates += [REPO.parent / "shared" / "fixtures", REPO / "shared" / "fixtures"]
    for candidate in candidates:
        if (candidate / "stylegan2").is_dir():
            return candidate
    return None


def pytest_configure(config):
    """$STYLEGAN_INVERT_TEST_THREADS=N runs torch on N threads (`make test`'s second, one-thread pass).

    OMP_NUM_THREADS alone is not enough: torch reads it once, and a library imported earlier may have set
    its own count; torch.set_num_threads is what the kernels obey, and it is checked here.
    """
    threads = os.environ.get("STYLEGAN_INVERT_TEST_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
        if torch.get_num_threads() != int(threads):
            raise pytest.UsageError(f"torch runs {torch.get_num_threads()} threads, not {threads}")


def pytest_report_header(config):
    import torch

    limits = [f"{name}={os.environ[name]}" for name in ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
                                                         "ATEN_CPU_CAPABILITY") if os.environ.get(name)]
    return f"torch {torch.__version__}: {torch.get_num_threads()} CPU thread(s), " \
           f"{torch.backends.cpu.get_cpu_capability()} kernels{', ' + ', '.join(limits) if limits else ''}"


FIXTURES = find_fixtures_dir()
NO_FIXTURES = ("conformance fixtures not found: put them at ../shared/fixtures or set "
               "STYLEGAN_INVERT_FIXTURES to their folder")


@pytest.fixture(scope="session")
def fixtures_dir():
    if FIXTURES is None:
        if os.environ.get("STYLEGAN_INVERT_REQUIRE_FIXTURES"):
            pytest.fail(NO_FIXTURES)  # CI: absent fixtures are an error, not a skip
        pytest.skip(NO_FIXTURES)
    return FIXTURES


@pytest.fixture(scope="session")
def sg2_dir(fixtures_dir):
    return fixtures_dir / "stylegan2"


@pytest.fixture(scope="session")
def astronaut_path(fixtures_dir):
    path = fixtures_dir / "images" / "astronaut.png"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the user's cache: every test gets its own STYLEGAN_INVERT_HOME."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("STYLEGAN_INVERT_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    return home
