"""What training and forecasting run inside: quiet libraries, seeded random state, one torch thread.

torch, lightning and numpy are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import logging
import random
import warnings
from collections.abc import Iterator

#: torch intra-op threads while training and forecasting. One thread is about as fast as two for
#: this small LSTM on an idle 2-core machine, and many times faster when other processes keep the
#: cores busy (two spinning OpenMP threads then stall each other).
TORCH_THREADS = 1

# Loggers that would print Lightning's banner, checkpoint lines and gluonts' notes for every run.
_NOISY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "gluonts")
_NOISY_WARNING_MODULES = r"(torch|lightning|lightning_fabric|pytorch_lightning|gluonts)(\.|$)"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Lightning's banners and the libraries' usage/deprecation warnings for the duration.

    Only ``UserWarning``, ``DeprecationWarning`` and ``FutureWarning`` raised from torch, Lightning
    or gluonts code are hidden (e.g. "no val_dataloader", pandas' frequency deprecations, "install
    orjson"); anything else, such as a ``RuntimeWarning``, still shows.
    """
    with warnings.catch_warnings():
        for category in (UserWarning, DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=_NOISY_WARNING_MODULES)
        # Lightning sets its loggers' levels when first imported: import it before overriding them.
        import lightning.pytorch  # noqa: F401

        saved = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
        try:
            for name in _NOISY_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
            yield
        finally:
            for name, level in saved.items():
                logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and torch and use ``TORCH_THREADS``; restore all of it afterwards."""
    import numpy as np
    import torch

    py_state, np_state, threads = random.getstate(), np.random.get_state(), torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        with torch.random.fork_rng(devices=[]):
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_num_threads(threads)


def versions() -> dict[str, str]:
    """The installed versions of the libraries a model depends on, for its artifact."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in ("gluonts", "torch", "lightning", "pandas", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found
