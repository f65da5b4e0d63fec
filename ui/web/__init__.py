"""The ``diffsearch ui`` web app: Gradio Blocks over the search, ingest and eval services.

``render`` (HTML, pure), ``handlers`` (actions, gradio-free) and ``app`` (the page). Nothing in
this package imports torch; the services load encoders lazily when a query or ingest runs.
"""
