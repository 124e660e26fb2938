"""Operator commands: the transcription worker and a one-off `transcribe FILE`."""
import logging
import signal

import click
from flask import current_app

from . import blp

log = logging.getLogger(__name__)


def _models():
    # Imported here, not at the top: the web process registers these commands too, and has no use for
    # Vosk's native library nor numpy (which also starts a thread pool in every web worker).
    import vosk

    from transcription.recognizer import ModelError
    from transcription.worker import load_models

    vosk.SetLogLevel(-1)  # Kaldi's own logging would drown ours
    cfg = current_app.config
    try:
        return load_models(cfg["VOSK_MODELS"], cfg["VOICE_LANGUAGE"])
    except (ModelError, LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@blp.cli.command("transcription-worker")
@click.option("--once", is_flag=True, help="Drain the queue, then exit.")
@click.option("--threads", type=click.IntRange(1, 64), help="Worker threads (default TRANSCRIPTION_THREADS).")
def transcription_worker(once: bool, threads: int | None) -> None:
    """Transcribe queued voice resolutions with the configured Vosk models."""
    from transcription.worker import Settings, Worker

    app = current_app._get_current_object()
    settings = Settings.from_config(app.config, threads)
    worker = Worker(app, _models(), settings)

    def _stop(signum, _frame):
        log.info("signal %s: finishing the jobs in hand, then stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("%s: %d thread(s), models %s", worker.name, settings.threads, ", ".join(worker.models.languages()))
    handled = worker.run(once=once)
    log.info("%s: stopped after %d job(s)", worker.name, handled)


@blp.cli.command("transcribe")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--phrases", multiple=True, help="Recognise only these phrases (repeat the option for each).")
@click.option("--language", default=None, help="Model language (default VOICE_LANGUAGE).")
def transcribe_cmd(file: str, phrases: tuple[str, ...], language: str | None) -> None:
    """Print a recording's transcript and its words with timings."""
    from transcription.audio import AudioError
    from transcription.worker import Settings, recognise

    registry = _models()
    try:
        model = registry.get(language)
        transcript = recognise(model, file, list(phrases) or None, Settings.from_config(current_app.config))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    except AudioError as exc:
        raise click.ClickException(f"{exc.code}: {exc.reason}") from None
    click.echo(transcript.text)
    for w in transcript.words:
        click.echo(f"{w.start:8.2f} {w.end:8.2f}  {w.conf:.2f}  {w.word}")
    click.echo(f"({transcript.duration_s:.2f} s of audio)")
