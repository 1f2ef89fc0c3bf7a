"""Every detector's spec in one list: the catalogue users read in docs/detectors.md."""

from __future__ import annotations

from dataclasses import replace

from distillguard.detectors import prompt_classifier
from distillguard.detectors.patterns import (
    CLASSIFIER_WHY,
    RESPONSE_DETECTORS,
    SCORED_DETECTORS,
    capability_lexicon,
    lexicon,
)
from distillguard.detectors.prompt_level import TEMPLATE_FAMILY_SPEC
from distillguard.detectors.spec import DetectorSpec


def _with_classifier(spec: DetectorSpec) -> DetectorSpec:
    """A request-side class's spec with the classifier's operating point beside its lexicon's."""
    fitted = prompt_classifier.model()
    return replace(
        spec,
        parameters={
            **spec.parameters,
            "classifier_threshold": fitted.thresholds[spec.id],
            "classifier_window_chars": prompt_classifier.WINDOW,
            "classifier_floor": prompt_classifier.FLOOR,
        },
        why={**spec.why, **CLASSIFIER_WHY},
    )


def prompt_level_specs() -> list[DetectorSpec]:
    return [
        *(_with_classifier(lexicon(name).spec) for name in SCORED_DETECTORS),
        *(lexicon(name).spec for name in RESPONSE_DETECTORS),
        capability_lexicon()[0],
        TEMPLATE_FAMILY_SPEC,
    ]


def lexicon_counts(detector_id: str) -> str:
    """'N en, M zh' pattern counts for a scored prompt lexicon ('' for other detectors)."""
    if detector_id not in SCORED_DETECTORS:
        return ""
    langs: dict[str, int] = {}
    for pattern in lexicon(detector_id).patterns:
        langs[pattern.lang] = langs.get(pattern.lang, 0) + 1
    return ", ".join(f"{n} {lang}" for lang, n in sorted(langs.items()))
