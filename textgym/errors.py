"""Exceptions. Each also subclasses the built-in a caller would naturally catch."""

import gymnasium as gym


class InvalidAction(gym.error.InvalidAction, ValueError):
    """An action outside the action space, or of the wrong type or shape."""


class ResetNeeded(gym.error.ResetNeeded, RuntimeError):
    """``step`` before ``reset``, or after the episode ended."""
