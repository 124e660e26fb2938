"""The bare Vosk loop that the transcription pipeline is measured and checked against."""
import json
import wave

import vosk

from transcription.recognizer import CHUNK_BYTES


def vosk_loop(model: vosk.Model, pcm: bytes, *, rate: int = 16000, grammar: str | None = None,
              alternatives: int = 0) -> list[dict]:
    """Feed 16-bit mono PCM to a fresh KaldiRecognizer in the pipeline's chunk size, as Vosk's examples
    do; every result it gives (the final one last), parsed."""
    rec = vosk.KaldiRecognizer(model, rate, *([grammar] if grammar else []))
    rec.SetWords(True)
    if alternatives:
        rec.SetMaxAlternatives(alternatives)
    results = []
    for i in range(0, len(pcm), CHUNK_BYTES):
        if rec.AcceptWaveform(pcm[i:i + CHUNK_BYTES]):
            results.append(rec.Result())
    results.append(rec.FinalResult())
    return [json.loads(result) for result in results]


def wav_words(model: vosk.Model, path, alternatives: int) -> list[tuple[str, float, float]]:
    """(word, start, end) of the best alternative of the bare loop over a 16-bit mono wav, asked for
    the same n-best list as the pipeline."""
    with wave.open(str(path)) as wf:
        assert (wf.getsampwidth(), wf.getnchannels()) == (2, 1), f"{path}: not 16-bit mono"
        rate, pcm = wf.getframerate(), wf.readframes(wf.getnframes())
    return [(w["word"], w["start"], w["end"]) for result in vosk_loop(model, pcm, rate=rate, alternatives=alternatives)
            for w in (result.get("alternatives") or [{}])[0].get("result", [])]
