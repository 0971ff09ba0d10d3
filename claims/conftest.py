"""The old option spellings of `pytest claims/` (``--suite``, ``--store``, ...), here only.

The plugin's options are ``--cp-*`` (an unrelated pytest session must not get generic ones);
here each old spelling sets its ``--cp-*`` option, so the clone's documented commands still work.
"""

from __future__ import annotations

import pytest
from conceptpatch.pytest_plugin import alpha_arg

#: Old option names (dest) whose ``--cp-`` counterpart the plugin reads.
LEGACY = ("suite", "store", "report", "alpha", "new_checkpoint", "control_suite")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conceptpatch")
    for name in LEGACY:
        flag = name.replace("_", "-")
        group.addoption(f"--{flag}", dest=name, default=None, type=alpha_arg if name == "alpha"
                        else None, help=f"old spelling of --cp-{flag} (in claims/ only)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name in LEGACY:
        value = config.getoption(name)
        if value is None:
            continue
        if config.getoption(f"cp_{name}") is not None:
            flag = name.replace("_", "-")
            raise pytest.UsageError(f"give --{flag} or --cp-{flag}, not both")
        setattr(config.option, f"cp_{name}", value)
