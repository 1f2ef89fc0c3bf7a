"""Decisions: rows with reasons, the policy that produces them, and their precedence."""

from distillguard.decisions.model import (
    ACTION_SEVERITY,
    SUBJECT_SPECIFICITY,
    Decision,
    DecisionError,
    Resolution,
    resolve,
)

__all__ = ["ACTION_SEVERITY", "SUBJECT_SPECIFICITY", "Decision", "DecisionError", "Resolution", "resolve"]
