"""Make ``unstructured`` work with no network: no telemetry ping, no spaCy model download.

``unstructured`` 0.27 classifies text (Title vs NarrativeText, ...) with a spaCy pipeline that it
loads with ``spacy.load("en_core_web_sm")`` and, when that fails, *downloads and installs into
site-packages* at first use. Offline that download fails and every md/html/txt/docx partition
raises. The model is on no registry reachable here.

What this module does, in :func:`ensure_offline` (idempotent, cheap, called by
``ingest.parse`` before the first partition in every process, worker processes included):

1. Sets ``DO_NOT_TRACK=1`` and ``UNSTRUCTURED_DISABLE_NOTICE=1`` unless the user set them, before
   ``unstructured`` is imported (its import pings a telemetry endpoint otherwise).
2. If a real ``en_core_web_sm`` is installed, leaves it alone: it is used as is.
3. Otherwise registers an **in-memory stand-in package** ``en_core_web_sm``: a module in
   ``sys.modules`` plus a ``sys.meta_path`` finder that reports a distribution of that name, which
   is what ``spacy.util.is_package`` checks. ``spacy.load("en_core_web_sm")`` then calls the
   stand-in's ``load()``, which returns ``spacy.blank("en")`` with a rule-based ``sentencizer``
   and a small heuristic verb tagger (below). Nothing is written to disk or site-packages, so
   there is no stale file to clean up and nothing changes for other programs; the stand-in
   lives only as long as the process.

Why the verb tagger: ``unstructured.partition.text_type.contains_verb`` calls it NarrativeText
only if a one-sentence paragraph has a token tagged ``VB*``. A blank pipeline tags nothing, so
every short prose line ("The cat sat on the mat.") would become a Title (or plain Text) and cut
sections in the wrong places. The tagger marks auxiliaries, modals, common verbs with their
inflections, and lowercase ``-ed``/``-ing`` words as verbs - close enough to the real tagger for
this one yes/no question. Headings ("Getting Started") are still Titles: they fail the
narrative test on capitalisation before the verb test matters.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import logging
import os
import sys
import threading
import types
import warnings
from typing import Any

MODEL_NAME = "en_core_web_sm"
_lock = threading.Lock()
_done = False

# Auxiliaries, modals and common verbs (base forms); inflections are generated below.
_AUX = (
    "am is are was were be been being has have had having do does did done doing can could "
    "will would shall should may might must 's 're 've 'd 'll 'm ca wo"
)
_IRREGULAR = (
    "said went gone got gotten made took taken came saw seen knew known thought found gave given "
    "told became left felt brought began begun kept held wrote written stood heard let meant set "
    "met ran paid sat spoke spoken lay led read grew grown lost fell fallen sent built understood "
    "drew drawn broke broken spent cut rose risen drove driven bought wore worn chose chosen "
    "sought threw thrown caught dealt won forgot forgotten hid hidden shot shut slept sold taught "
    "fought fled hung struck swore sworn tore torn woke woken ate eaten fed flew flown bore born "
    "put hit cost hurt"
)
_BASE = (
    "say go get make know think take see come want look use find give tell work call try ask need "
    "feel become leave put mean keep let begin seem help talk turn start show hear play run move "
    "like live believe hold bring happen write provide sit stand lose pay meet include continue "
    "set learn change lead understand watch follow stop create speak read allow add spend grow "
    "open walk win offer remember love consider appear buy wait serve die send expect build stay "
    "fall cut reach kill remain suggest raise pass sell require report decide pull return explain "
    "hope develop carry break receive agree support hit produce eat cover catch draw choose cause "
    "point listen realize place close involve increase contain describe apply improve reduce "
    "represent base compare depend determine enable ensure establish exist identify indicate "
    "maintain measure obtain occur perform prevent process protect prove remove replace result "
    "seek store test treat affect associate achieve assess combine define demonstrate design "
    "discuss evaluate examine generate implement investigate observe present propose publish "
    "record relate release search select share suffer sign enter fill form join kick mark note "
    "pick plan rest save shake shine sing sleep smile sound stick study teach throw travel visit "
    "wear wish wonder worry accept act answer argue arrive attack avoid belong check claim "
    "collect count deal deliver deny drink drive earn enjoy exercise explore express face fight "
    "finish fit fly forget guess hang hate hide hurt imagine intend introduce manage matter "
    "mention miss own prefer prepare push recognize refer reflect refuse regard rely remind "
    "respond reveal ring rise roll rule shoot shut sit solve sort spread state step stretch "
    "struggle succeed supply suppose survive tend thank touch train vote wake warn wash win "
    "fix install configure run download upload click type enter submit update delete edit save "
    "load parse encode index query return compute convert"
)
_STOP_SUFFIX = {
    "thing",
    "nothing",
    "something",
    "anything",
    "everything",
    "during",
    "morning",
    "evening",
    "ceiling",
    "building",
    "meeting",
    "wedding",
    "bed",
    "red",
    "need",
    "feed",
    "seed",
    "speed",
    "hundred",
    "indeed",
    "sacred",
    "naked",
    "wicked",
    "king",
    "ring",
    "sing",
    "bring",
    "spring",
    "string",
    "wing",
    "sting",
}


def _inflect(base: str) -> set[str]:
    """Return the regular inflections of a verb base form (crude but adequate)."""
    forms = {base, base + "s", base + "es", base + "ed", base + "d", base + "ing"}
    if base.endswith("e"):
        forms.add(base[:-1] + "ing")
    if base.endswith("y") and len(base) > 2 and base[-2] not in "aeiou":
        forms |= {base[:-1] + "ies", base[:-1] + "ied"}
    if (
        len(base) <= 4
        and base[-1] in "tpnmgd"
        and base[-2] in "aeiou"
        and base[-3:-2] not in "aeiou"
    ):
        forms |= {base + base[-1] + "ed", base + base[-1] + "ing"}
    return forms


def _verb_forms() -> frozenset[str]:
    forms: set[str] = set(_AUX.split()) | set(_IRREGULAR.split())
    for base in _BASE.split():
        forms |= _inflect(base)
    return frozenset(forms)


_VERBS = _verb_forms()


def looks_like_verb(word: str) -> bool:
    """Guess whether ``word`` is a verb form (the question ``unstructured`` asks).

    Args:
        word: One token.

    Returns:
        True for auxiliaries, modals, common verbs and their inflections, and lowercase words of
        five letters or more ending in ``-ed`` or ``-ing``.
    """
    low = word.lower()
    if low in _VERBS:
        return True
    if low in _STOP_SUFFIX or not low.isalpha():
        return False
    return word.islower() and len(low) >= 5 and (low.endswith("ed") or low.endswith("ing"))


def _make_nlp(**_overrides: Any) -> Any:
    """The stand-in model: blank English + sentencizer + heuristic verb tagger."""
    import spacy
    from spacy.language import Language

    if not Language.has_factory("diffsearch_verb_tagger"):

        @Language.component("diffsearch_verb_tagger")
        def _verb_tagger(doc: Any) -> Any:
            for token in doc:
                if looks_like_verb(token.text):
                    token.tag_ = "VB"
            return doc

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("diffsearch_verb_tagger")
    return nlp


class _StandInDistribution(importlib.metadata.Distribution):
    """Metadata of the stand-in package, enough for ``importlib.metadata.distribution``."""

    def read_text(self, filename: str) -> str | None:
        if filename == "METADATA":
            return (
                f"Metadata-Version: 2.1\nName: {MODEL_NAME}\nVersion: 0.0.0+diffsearch.blank\n"
                "Summary: in-memory stand-in (blank English + sentencizer) set up by diffsearch\n"
            )
        return None

    def locate_file(self, path: Any) -> Any:  # pragma: no cover - never needed by spaCy
        return path


class _StandInFinder(importlib.abc.MetaPathFinder):
    """Reports the stand-in distribution to ``importlib.metadata``; imports nothing itself."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        return None

    def find_distributions(self, context: Any = None) -> list[importlib.metadata.Distribution]:
        name = getattr(context, "name", None)
        if name is None or name.replace("-", "_").lower() == MODEL_NAME:
            return [_StandInDistribution()]
        return []


def _real_model_installed() -> bool:
    """True when a genuine ``en_core_web_sm`` distribution is installed."""
    if any(isinstance(f, _StandInFinder) for f in sys.meta_path):
        return False
    try:
        importlib.metadata.distribution(MODEL_NAME)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _quiet() -> None:
    """Silence harmless chatter from unstructured and its parsers."""
    for name in ("unstructured", "unstructured.trace", "pdfminer", "pikepdf", "pypandoc"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"unstructured(\..*)?")
    warnings.filterwarnings("ignore", module=r"pdfminer(\..*)?")
    warnings.filterwarnings("ignore", message=r".*[Ll]ibmagic.*")


def ensure_offline() -> bool:
    """Prepare the process so that ``unstructured`` partitions offline; safe to call often.

    Returns:
        True when the in-memory stand-in is in use, False when a real ``en_core_web_sm`` is.
    """
    global _done
    if _done:
        return MODEL_NAME in sys.modules and getattr(
            sys.modules[MODEL_NAME], "DIFFSEARCH_STAND_IN", False
        )
    with _lock:
        if not _done:
            os.environ.setdefault("DO_NOT_TRACK", "1")
            os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
            if not _real_model_installed():
                module = types.ModuleType(MODEL_NAME)
                module.__doc__ = "diffsearch's in-memory stand-in for en_core_web_sm."
                module.load = _make_nlp  # type: ignore[attr-defined]
                module.DIFFSEARCH_STAND_IN = True  # type: ignore[attr-defined]
                sys.modules[MODEL_NAME] = module
                sys.meta_path.append(_StandInFinder())
            _quiet()
            _done = True
    return bool(getattr(sys.modules.get(MODEL_NAME), "DIFFSEARCH_STAND_IN", False))
