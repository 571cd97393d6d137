"""With AURAL_GRPC_TLS_CERT/_KEY the gRPC face speaks TLS only (an API-only node: no model)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2 as pb,
)
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2_grpc as pb_grpc,
)

from aural.config import Settings

from .conftest import aural_serve


def test_tls_is_served_and_plaintext_is_not(tmp_path: Path, settings: Settings) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    env = {"AURAL_GRPC_TLS_CERT": str(cert), "AURAL_GRPC_TLS_KEY": str(key), "AURAL_WORKERS": "0"}
    with aural_serve(tmp_path, settings.cache_dir, **env) as server:

        async def calls() -> tuple[int, int]:
            credentials = grpc.ssl_channel_credentials(cert.read_bytes())
            async with grpc.aio.secure_channel(server.target, credentials) as channel:
                check = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest()
                )
                languages = await pb_grpc.SpeechToTextStub(channel).ListSupportedLanguages(
                    pb.ListSupportedLanguagesRequest()
                )
            async with grpc.aio.insecure_channel(server.target) as plain:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await health_pb2_grpc.HealthStub(plain).Check(
                        health_pb2.HealthCheckRequest(), timeout=3
                    )
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            return check.status, len(languages.languages)

        status, count = asyncio.run(calls())
    assert status == health_pb2.HealthCheckResponse.SERVING
    assert count > 90  # base: every Whisper language
