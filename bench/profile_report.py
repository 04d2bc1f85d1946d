"""A py-spy profile of the controller, summarised: where each thread kind spends its samples,
and the top functions of the event loop by own and by cumulative time.

`OMNISHELF_BENCH_KEEP=DIR OMNISHELF_BENCH_PYSPY=1 omnishelf bench --only reprice --labels 5000`
leaves DIR/store-5000/controller-reprice.txt (and controller-convergence.txt): py-spy's raw
format with `--threads`, active samples only (a thread waiting in select or on a lock is not
sampled), one line per distinct stack:

    thread (TID): NAME;outer (file.py:12);inner (file.py:34) COUNT

.venv/bin/python -m bench.profile_report DIR/store-5000/controller-reprice.txt [--top 15]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.cpu import DATABASE, EVENT_LOOP, OTHER

_LINE = re.compile(r"^thread \((?P<tid>\w+)\): (?P<name>[^;]*);(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(?::\d+)?\)$")
_SITE = "site-packages/"
IDLE = {"EpollSelector.select (selectors.py)"}
DISPATCH = "Handle._run (asyncio/events.py)"


@dataclass
class Profile:
    samples: Counter[str] = field(default_factory=Counter)  # per thread kind
    own: Counter[str] = field(default_factory=Counter)  # event loop: leaf function
    cumulative: Counter[str] = field(default_factory=Counter)  # event loop: in the stack
    database_own: Counter[str] = field(default_factory=Counter)  # database threads: leaf
    loop_samples: int = 0  # busy ones
    loop_idle: int = 0  # waiting in the selector (py-spy counts a select with a timeout)


def frame_name(frame: str) -> str:
    """ "run_round (controller/pipeline/push_stage.py:88)" -> "run_round (…/push_stage.py)"."""
    matched = _FRAME.match(frame)
    if matched is None:
        return frame
    where = matched["file"]
    if _SITE in where:
        where = where.split(_SITE, 1)[1]
    else:
        parts = Path(where).parts
        where = "/".join(parts[-2:])
    return f"{matched['function']} ({where})"


def thread_kind(name: str, frames: list[str]) -> str:
    if name == "MainThread":
        return EVENT_LOOP
    if any("aiosqlite" in frame for frame in frames):
        return DATABASE
    return OTHER


def read_profile(text: str) -> Profile:
    profile = Profile()
    for line in text.splitlines():
        matched = _LINE.match(line.strip())
        if matched is None:
            continue
        frames = matched["stack"].split(";")
        count = int(matched["count"])
        kind = thread_kind(matched["name"], frames)
        profile.samples[kind] += count
        names = [frame_name(f) for f in frames]
        if kind == DATABASE:
            profile.database_own[names[-1]] += count
        if kind != EVENT_LOOP:
            continue
        if names[-1] in IDLE:
            profile.loop_idle += count
            continue
        profile.loop_samples += count
        profile.own[names[-1]] += count
        # Below the loop's dispatch (Handle._run): the entry point and the loop itself are in
        # every sample and say nothing.
        runs = [i for i, name in enumerate(names) if name == DISPATCH]
        for name in set(names[runs[0] + 1 :] if runs else names):
            profile.cumulative[name] += count
    return profile


def report(profile: Profile, top: int) -> str:
    total = sum(profile.samples.values()) or 1
    loop = profile.loop_samples or 1
    out = ["samples by thread kind (share of all active samples):"]
    out += [f"  {kind:<11} {n:>7}  {n / total:6.1%}" for kind, n in profile.samples.most_common()]
    out.append(
        f"event loop thread: {profile.loop_samples} busy samples, {profile.loop_idle} waiting"
        " in the selector (left out below)"
    )
    for title, counter in (("own", profile.own), ("cumulative", profile.cumulative)):
        out.append(f"event loop thread, top {top} by {title} time (share of its busy samples):")
        out += [f"  {n / loop:6.1%}  {name}" for name, n in counter.most_common(top)]
    database = profile.samples[DATABASE] or 1
    out.append(f"database threads, top {top} by own time (share of their samples):")
    out += [f"  {n / database:6.1%}  {name}" for name, n in profile.database_own.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    text = args.profile.read_text(encoding="utf-8", errors="replace")
    sys.stdout.write(report(read_profile(text), args.top) + "\n")


if __name__ == "__main__":
    main()
