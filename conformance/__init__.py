"""The conformance check: plays the store controller's side of PROTOCOL.md against one device.

`omnishelf conformance --broker URL --store S --device ID` runs the scenarios of
docs/conformance.md (first image, delta, stale revisions, page switch, lost chunk, lost base,
integrity failure, rebirth, commands, refused firmware offers, malformed frames, offline catch-up)
and prints, per scenario, PASS, FAIL or SKIP with the clause of PROTOCOL.md it checks.
"""
