"""Moved to prelnedge/config.py (issue 27: checkpoint/ and models/ both read it, so it sits below
both). This re-export points downward only; remove it once no branch imports prelnedge.models.config."""

from prelnedge.config import *  # noqa: F401,F403
from prelnedge.config import MODEL_TYPE, PRESETS, SIZE_LIMITS, SUPPORTED_ACTIVATIONS, PreLNConfig  # noqa: F401
