"""Voice pipeline core: decode recordings, find speech, recognise words with Vosk.

Modules: `audio` (sniff and decode to 16 kHz mono PCM), `speech` (speech and pause finding),
`recognizer` (the Vosk model and single-pass recognition), `marks` (which words to review, and
why), `split` (long recordings cut at pauses and decoded in parallel), `registry` (model paths per
language). The one way from a file to a transcript is the worker's `recognise`
(transcription/worker.py), which production and the tests both run. Nothing here is imported
eagerly, so importing the package is cheap.
"""
