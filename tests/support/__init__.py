"""What the tests and the benchmarks both use to set up the world outside the process under test.

- `live`: `free_port`, `wait_for`, a migrated demo database, one gunicorn launcher, moto's S3 server and
  `together` (calls released at once from many threads);
- `database`: a scratch PostgreSQL database on the shared server, a private cluster to stop at will, and
  `committed` (a condition asked of what other processes have committed);
- `tablet`: a simulated signing tablet;
- `vosk_loop`: the bare Vosk loop that transcription is compared with;
- `timing`: paired rounds of a subject and its baseline, and the median of their ratios.

It lives under tests/ (a package) rather than at the top level: it is test equipment, not a concern of
the product's, and the benchmarks already import the tests' fakes from here.
"""
