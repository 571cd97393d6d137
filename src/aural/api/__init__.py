"""The HTTP faces (Phonexia, DeepInfra, OpenAI) over the embedded job system.

:func:`aural.api.app.create_app` builds the FastAPI app; ``aural serve`` runs it with uvicorn.
"""
