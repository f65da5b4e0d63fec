"""What the web UI does when a user acts: one module per tab, over one :class:`WebContext`.

* :mod:`~ui.web.handlers.context`: the process-wide state (store, search service, allow-list,
  locks) and the catalogue every tab reads (indexes, their encoders, folders).
* :mod:`~ui.web.handlers.searching`: the Search tab (one encoder, or two side by side).
* :mod:`~ui.web.handlers.document`: the document drawer.
* :mod:`~ui.web.handlers.ingesting`: the Ingest tab (uploads, allow-listed folders).
* :mod:`~ui.web.handlers.judging`: the Judge tab (blind pools, saving marks).
* :mod:`~ui.web.handlers.evaluating`: the Evaluate tab (your questions, BEIR, synthetic).

Handlers parse the page's input, call the services and return markup from
:mod:`ui.web.render`; they are Gradio-free (``ui.web.app`` and the ``*_tab`` modules turn
their results into component updates) and torch-free (services load encoders lazily). Every
handler catches the errors a user can fix and returns them as a readable message; anything
unexpected is logged with its traceback on the server and shown as one line.
"""

from __future__ import annotations

from ui.web.handlers.context import NONE_CHOICE, Progress, WebContext, error_html

__all__ = ["NONE_CHOICE", "Progress", "WebContext", "error_html"]
