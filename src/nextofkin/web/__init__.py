"""The web face of nextofkin: a REST API under ``/api`` and a server-rendered UI for review work.

:func:`nextofkin.web.app.create_app` builds the FastAPI application; ``nextofkin serve`` runs it
with uvicorn. Routes only parse, authorise and call the services of the other packages; the one
mapping from domain exceptions to HTTP statuses lives in :mod:`nextofkin.web.errors`. Nothing is
imported or loaded here at import time (the schema imports :mod:`nextofkin.users.records`).
"""
