"""The fork server: one per pool slot, a warm interpreter that forks a fresh, isolated
child for every run.

A slot is three processes of its own, plus the children of its runs:

* the **server** (:mod:`.server`), started by the pool as a fresh ``python -I`` with a
  scrubbed environment; it prepares and probes the isolation layers (:mod:`.layers`),
  serves the pool's requests one at a time, hands each to a prepared child
  (:mod:`.handover`) and supervises it (:mod:`.supervise`);
* the **zygote** (:mod:`.zygote`), a copy of the warm server that forks the prepared
  children and reaps them;
* the **sweeper** (:mod:`.sweeper`), which kills whatever is left of ended runs.

A child sets itself up (:mod:`.prepare`: namespaces, mounts, descriptors) before its
request, and from the request on (:mod:`.child`) sets its limits, drops to the slot's
uid and runs the program. :mod:`.main` is the entry point the pool starts.

Nothing here is imported by the package's ``__init__``: the fork server is started
without it, so runs hold no pool or service code.
"""
