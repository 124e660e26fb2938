"""The baseline the transcription benchmarks compare against: the plain Vosk loop over PCM."""
import vosk

from transcription.recognizer import CHUNK_BYTES, SpeechModel


def bare(model: SpeechModel, pcm: bytes) -> None:
    """Feed 16 kHz mono PCM to a fresh KaldiRecognizer in the pipeline's chunk size, as Vosk's examples do."""
    rec = vosk.KaldiRecognizer(model.vosk_model, 16000)
    rec.SetWords(True)
    for i in range(0, len(pcm), CHUNK_BYTES):
        if rec.AcceptWaveform(pcm[i:i + CHUNK_BYTES]):
            rec.Result()
    rec.FinalResult()
