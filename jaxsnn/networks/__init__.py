"""Ready-made networks from the literature, built from the core."""

from .coba import COBA_DEFAULTS, coba_initial_state, coba_network, run_coba

__all__ = ["COBA_DEFAULTS", "coba_initial_state", "coba_network", "run_coba"]
