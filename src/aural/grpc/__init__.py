"""The Phonexia gRPC face: ``SpeechToText`` of "Enhanced Speech to Text Built on Whisper".

A thin adapter like :mod:`aural.api.phonexia` is for HTTP: requests become the one
:class:`~aural.types.TranscriptionOptions` and a task of the job system; the one
:class:`~aural.types.Transcript` becomes the response stream. ``aural serve`` runs it in the
same process and event loop as the HTTP app (see :mod:`aural.grpc.server`).
"""
