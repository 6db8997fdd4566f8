"""The sandbox's layers and languages as ``/readyz`` shows them (the API's own pool, or a
worker's), and the language table as ``GET /v1/languages`` lists it."""

from __future__ import annotations

from typing import Any


def sandbox_report() -> dict[str, Any]:
    """The sandbox pool's layers when this process runs one (`reward serve` and
    `reward worker` start it)."""
    import sandbox

    pool = sandbox.current_pool()
    if pool is None:
        return {"ok": True, "started": False}
    layers = dict(pool.layers)
    return {
        "ok": True,
        "started": True,
        "strict": pool.strict,
        "layers": layers,
        "native_setup": pool.native_setup,
        "inactive": sorted(name for name, on in layers.items() if not on),
        **({"layer_errors": pool.layer_errors} if pool.layer_errors else {}),
        "runtime": pool.runtime.report(),
        "limits": pool.limits,
        "compile_root": pool.compile_root,
        "languages": installed_versions(),
    }


def installed_versions() -> dict[str, str | None]:
    """The languages this host runs, with their toolchains' versions (asked once per process)."""
    import sandbox

    return {
        name: about["version"] for name, about in sandbox.installed_languages().items() if about["installed"]
    }


def languages_report() -> dict[str, Any]:
    """Every language of the sandbox's table: installed here or not, its version, aliases,
    whether it has a compile step, and the ``/run_code`` names (SandboxFusion's) that run it."""
    import sandbox
    from reward_server.run_code import SANDBOX_FUSION_NAMES

    languages = sandbox.installed_languages()
    for name, about in languages.items():
        about["run_code"] = sorted(sf for sf, target in SANDBOX_FUSION_NAMES.items() if target == name)
    return {"languages": languages}
