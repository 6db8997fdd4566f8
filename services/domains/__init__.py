"""One verifier module per domain, each exposing ``verify(extracted, label, options) -> VerifierOutcome``."""
