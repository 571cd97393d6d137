"""Model files shipped with aural: the Silero VAD (MIT, see silero_vad.LICENSE)."""
