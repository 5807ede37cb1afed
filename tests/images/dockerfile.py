"""A small Dockerfile reader (no Docker engine here): stages, instructions, ARG substitution,
and the ``.dockerignore`` matching rules, enough for the image tests to check what a build would
do. It follows the Dockerfile reference: ``\\`` continues a line, ``#`` starts a comment line, the
JSON form of ENTRYPOINT/CMD, ``key=value`` pairs for ENV/LABEL/ARG."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    """One instruction: upper-case keyword, its text, the line it starts on."""

    keyword: str
    value: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of ENTRYPOINT/CMD/RUN; ValueError for the shell form."""
        parsed = json.loads(self.value)
        if not (isinstance(parsed, list) and all(isinstance(x, str) for x in parsed)):
            raise ValueError(f"line {self.line}: not an exec-form array: {self.value}")
        return parsed

    def pairs(self) -> dict[str, str]:
        """``key=value`` pairs of ENV, LABEL or ARG (ARG without a default maps to "")."""
        out: dict[str, str] = {}
        for token in shlex.split(self.value, posix=True):
            key, sep, value = token.partition("=")
            out[key] = value if sep else ""
        return out

    def copy(self) -> tuple[dict[str, str], list[str], str]:
        """(flags, sources, destination) of COPY/ADD."""
        tokens = shlex.split(self.value)
        flags = {}
        while tokens and tokens[0].startswith("--"):
            key, _, value = tokens.pop(0)[2:].partition("=")
            flags[key] = value
        return flags, tokens[:-1], tokens[-1]


@dataclass
class Stage:
    """A build stage: its base image (ARGs substituted), name and instructions."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Instructions with this keyword, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """The stage's ENV values (later ones win)."""
        out: dict[str, str] = {}
        for instruction in self.all("ENV"):
            out.update(instruction.pairs())
        return out


@dataclass
class Dockerfile:
    """A parsed Dockerfile."""

    path: Path
    directives: dict[str, str]
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        """The stage the image is built from (the last one)."""
        return self.stages[-1]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue  # comment lines inside a continuation are dropped
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        out.append((start, buffer + line))
        buffer = ""
    if buffer:
        out.append((start, buffer))
    return out


def substitute(text: str, args: dict[str, str]) -> str:
    """Replace ``${NAME}`` and ``$NAME`` with ARG values (unknown names are left alone)."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return args.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, text)


def parse(path: Path) -> Dockerfile:
    """Parse the Dockerfile at ``path``."""
    text = path.read_text()
    directives = {}
    for line in text.splitlines():
        match = re.match(r"#\s*(\w+)\s*=\s*(\S+)", line)
        if not match:
            break
        directives[match.group(1).lower()] = match.group(2)
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in _logical_lines(text):
        keyword, _, value = line.partition(" ")
        instruction = Instruction(keyword.upper(), value.strip(), number)
        if instruction.keyword == "FROM":
            parts = instruction.value.split()
            base = substitute(parts[0], global_args)
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            if instruction.keyword != "ARG":
                raise ValueError(f"{path}:{number}: {instruction.keyword} before FROM")
            global_args.update(instruction.pairs())
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(path, directives, global_args, stages)


# --- .dockerignore ------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out += "/?"  # `**/x` also matches `x`
                i += 1
            continue
        char = pattern[i]
        out += "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
        i += 1
    return re.compile(out + r"\Z")


@dataclass
class DockerIgnore:
    """``.dockerignore`` rules: the last pattern matching a path (or one of its parent
    directories) decides; ``!`` patterns re-include."""

    rules: list[tuple[bool, re.Pattern[str]]]

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        """Rules from a ``.dockerignore`` file."""
        rules = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line[1:].strip() if negate else line
            pattern = pattern.strip("/").removeprefix("./")
            rules.append((negate, _pattern_regex(pattern)))
        return cls(rules)

    def excluded(self, relative: str) -> bool:
        """Whether the file or directory ``relative`` (to the context) stays out of the build."""
        parts = relative.strip("/").split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for negate, regex in self.rules:
            if any(regex.match(p) for p in prefixes):
                excluded = not negate
        return excluded
