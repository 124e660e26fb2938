"""A benchmark's run stopped by SIGTERM or SIGHUP ends as Ctrl-C ends it: through the blocks that drop
what it made (its scratch database, its servers). By default these signals end the process on the spot."""
import signal


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP raise SystemExit from now on. A signal the run was started with ignored (nohup)
    stays ignored."""
    def stop(signum, frame):
        print(f"stopped by {signal.Signals(signum).name}", flush=True)
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, stop)
