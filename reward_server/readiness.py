"""The sandbox's layers as ``/readyz`` shows them (the API's own pool, or a worker's)."""

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
    }
