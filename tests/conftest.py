from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_fixtures():
    """The shared reference fixtures folder (``<repo>/../shared/fixtures``), or skip."""
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
    if not folder.is_dir():
        pytest.skip(f"shared fixtures not available ({folder})")
    return folder
