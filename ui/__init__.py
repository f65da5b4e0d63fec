"""Command line and web UI. Thin: parse input, call the services, render. Never imports torch."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
