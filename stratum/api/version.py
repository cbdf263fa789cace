"""The release's version, in the kernel so that health, traces and error reports read it without importing the
`stratum` package (whose __init__ loads Celery, which loads the kernel: a cycle)."""
VERSION = "1.0.0"
