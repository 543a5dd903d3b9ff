"""Errors a user can fix. The CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input: the message names what is wrong and what is allowed."""


class ConfigError(UserError):
    """A config field has a value prelnedge cannot use."""


class CheckpointError(UserError):
    """A checkpoint is not a RoBERTa-PreLayerNorm checkpoint prelnedge can load."""


class ValidationError(Exception):
    """An artifact's outputs disagree with its float reference beyond tolerance."""
