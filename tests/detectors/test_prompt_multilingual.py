"""Held-out paraphrases in nine languages (multilingual_heldout.py, written before the rules and
training examples and never trained on): what the prompt level reaches in each language and
class, what it leaves alone, and what the response-side detector sees in an output."""

from __future__ import annotations

import pytest

from distillguard.detectors.patterns import SCORED_DETECTORS
from distillguard.detectors.prompt_matcher import PromptMatch, match_prompt
from distillguard.rules import TRAINING_SIGNAL_COLUMNS, training_score

from multilingual_heldout import HELDOUT, LANGS, ORDINARY, RESPONSES  # isort: skip
from safe_answer_heldout import ORDINARY_LOOKALIKES, SAFE_ANSWER  # isort: skip
from self_critique_heldout import ORDINARY_FOLLOW_UPS, SELF_CRITIQUE  # isort: skip
from deflection_heldout import DEFLECTION, ORDINARY_INSTRUCTIONS  # isort: skip

# A language counts as covered when at least two thirds of its held-out wordings (all classes
# together) reach 0.5, the line the account level counts as caught, and every class catches
# some: a campaign sends hundreds of prompts, so two in three caught is plenty to see it, and
# one miss in three leaves the rules room to stay narrow (each class has 3 to 6 wordings, so
# per-class figures move in steps of a third; docs/prompt-level.md has them).
MIN_RECALL = 2 / 3


@pytest.mark.parametrize("lang", LANGS)
def test_held_out_wordings_are_caught_in_every_language(lang: str) -> None:
    caught, total, missed = 0, 0, []
    for name, texts in HELDOUT[lang].items():
        hits = [getattr(match_prompt(t), name) >= 0.5 for t in texts]
        assert any(hits), (name, texts)
        caught, total = caught + sum(hits), total + len(texts)
        missed += [t for t, hit in zip(texts, hits, strict=True) if not hit]
    assert caught / total >= MIN_RECALL, missed


@pytest.mark.parametrize("lang", LANGS)
def test_ordinary_requests_in_each_language_stay_below_the_line(lang: str) -> None:
    for text in ORDINARY[lang]:
        found = match_prompt(text)
        assert max(getattr(found, name) for name in SCORED_DETECTORS) < 0.5, (text, found.evidence)


def test_the_languages_the_brief_names_are_all_covered() -> None:
    assert set(LANGS) >= {"en", "zh", "es", "fr", "de", "ja", "ru"}
    for lang in LANGS:
        if lang not in ("en", "zh"):
            assert set(HELDOUT[lang]) == set(SCORED_DETECTORS), lang


def test_response_artefacts_outscore_ordinary_answers_and_ordinary_answers_stay_low() -> None:
    artefacts = [match_prompt("", response=text).response_trace for text, artefact in RESPONSES if artefact]
    ordinary = [
        match_prompt("", response=text).response_trace for text, artefact in RESPONSES if not artefact
    ]
    assert max(ordinary) < 0.3  # numbered steps, code, long prose: no marker, no score
    assert sum(score >= 0.5 for score in artefacts) >= len(artefacts) / 2
    assert min(artefacts) > max(ordinary)


def test_length_alone_is_not_evidence_of_a_trace() -> None:
    essay = "The French Revolution reshaped Europe. " * 200
    steps = "\n".join(f"{i}. Do the next part of the recipe carefully." for i in range(1, 40))
    assert match_prompt("", response=essay).response_trace == 0.0
    assert match_prompt("", response=steps).response_trace == 0.0


def test_the_training_signal_is_the_strongest_training_shaped_class() -> None:
    found = match_prompt("Califica la respuesta del asistente del 1 al 10 según la rúbrica.")
    assert found.training_signal == training_score({n: getattr(found, n) for n in TRAINING_SIGNAL_COLUMNS})
    assert PromptMatch().training_signal == 0.0


def test_politically_safe_answers_are_caught_and_neutral_accounts_are_not() -> None:
    """The held-out ``safe_answer_heldout`` set: asking for the answer a censored model gives,
    in eight languages, reaches the line; asking for a neutral or balanced account does not."""
    caught = [t for texts in SAFE_ANSWER.values() for t in texts if match_prompt(t).censorship_rewrite >= 0.5]
    total = sum(len(texts) for texts in SAFE_ANSWER.values())
    assert len(caught) / total >= MIN_RECALL
    for lang, texts in SAFE_ANSWER.items():
        assert any(t in caught for t in texts), lang
    for text in ORDINARY_LOOKALIKES:
        found = match_prompt(text)
        assert max(getattr(found, name) for name in SCORED_DETECTORS) < 0.5, (text, found.evidence)


@pytest.mark.parametrize("lang", LANGS)
def test_critique_of_the_models_own_reasoning_is_caught_and_everyday_follow_ups_are_not(lang: str) -> None:
    """The held-out ``self_critique_heldout`` set: a follow-up turn asking the model to list the
    flaws of the reasoning it just gave, or to grade it on a scale, reaches the line as critique;
    "are you sure?", "explain that step again" and marking the user's own work do not."""
    texts = SELF_CRITIQUE[lang]
    caught = [t for t in texts if match_prompt(t).critique >= 0.5]
    assert caught and len(caught) / len(texts) >= MIN_RECALL, [t for t in texts if t not in caught]
    for text in ORDINARY_FOLLOW_UPS[lang]:
        found = match_prompt(text)
        assert max(getattr(found, name) for name in SCORED_DETECTORS) < 0.5, (text, found.evidence)


# A user telling the model its answer is wrong names the model's answer and a mistake, the two
# words the own-reasoning rules look for, but asks for nothing: a guard added after a first
# version of the rules matched these in seven languages.
POINTED_OUT_MISTAKES = (
    "I think your answer has a mistake in step two.",
    "我觉得你的答案有错误。",
    "Creo que tu respuesta tiene un error en el segundo paso.",
    "Je pense que ta réponse contient une erreur.",
    "Ich glaube, deine Antwort hat einen Fehler.",
    "Acho que sua resposta tem um erro.",
    "Мне кажется, в твоём ответе есть ошибка.",
    "あなたの回答に間違いがあると思います。",
    "당신의 답변에 오류가 있는 것 같아요.",
)


@pytest.mark.parametrize("text", POINTED_OUT_MISTAKES)
def test_telling_the_model_its_answer_is_wrong_is_not_critique(text: str) -> None:
    assert match_prompt(text).critique < 0.5

@pytest.mark.parametrize("lang", sorted(DEFLECTION))
def test_deflecting_sensitive_questions_is_caught_and_everyday_instructions_are_not(lang: str) -> None:
    """The held-out ``deflection_heldout`` set: a harmless substitute answer when a topic cannot be
    discussed, an answer kept clear of politically sensitive content, and the Chinese rephrasing
    verbs, reach the line as a censorship rewrite; "say you don't know", "keep politics out of
    the ad" and a polite rewording do not."""
    texts = DEFLECTION[lang]
    caught = [t for t in texts if match_prompt(t).censorship_rewrite >= 0.5]
    assert len(caught) / len(texts) >= MIN_RECALL, [t for t in texts if t not in caught]
    for text in ORDINARY_INSTRUCTIONS:
        found = match_prompt(text)
        assert max(getattr(found, name) for name in SCORED_DETECTORS) < 0.5, (text, found.evidence)
