"""Errors meant for people.

Every error the toolkit raises for a user mistake derives from :class:`VCError`; the CLIs print its
message as one line and exit non-zero, without a traceback. Anything else is a bug and keeps its
traceback.
"""


class VCError(Exception):
    """A problem the user can fix: bad input, bad config, missing files."""

    exit_code = 2


class AudioError(VCError):
    """An audio file is missing, unreadable, or unusable (silent, too short, too long, NaN...)."""


class ConfigError(VCError):
    """A config file or a ``--set`` override is invalid."""


class FingerprintError(VCError):
    """Features, caches, checkpoints or vocoders were made with different feature settings."""


class DataError(VCError):
    """A corpus or a prepared dump directory is unusable."""


class CheckpointError(VCError):
    """A checkpoint is missing, corrupt, or does not fit the request."""


class TrainingError(VCError):
    """Training had to stop (for example after too many non-finite steps in a row)."""
