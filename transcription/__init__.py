"""Voice pipeline core: decode recordings, find speech, recognise words with Vosk.

Modules: `audio` (sniff and decode to 16 kHz mono PCM), `speech` (energy-based speech and pause
finding), `recognizer` (the Vosk model and single-pass recognition), `split` (long recordings cut
at pauses and decoded in parallel), `registry` (model paths per language), `pipeline` (file to
transcript in one call). Nothing here is imported eagerly, so importing the package is cheap.
"""
