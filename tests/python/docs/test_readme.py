"""The README runs: every fenced ```bash and ```sql block is executed in order, as a reader
following it top to bottom in one terminal would, and every command in its Commands table
parses.

The shell blocks run line by line with bash in a fresh copy of this checkout (what a clone
holds), with a fresh TXMON_HOME (the embedded server), or, when TXMON_TEST_DATABASE_URL names a
server, with TXMON_DATABASE_URL pointing at a scratch database there. Variables a line exports
(`eval "$(txmon db env)"`) carry over to the lines after it. SQL blocks go through psql to the
database txmon uses. Lines that cannot run here are marked in the README itself, with an HTML
comment just before their block that readers of the rendered page never see:

    <!-- readme-test: skip (needs Docker) -->                        the whole block
    <!-- readme-test: skip `txmon superset up` (why) -->             the lines holding that text
    <!-- readme-test: background `txmon serve` port 8000 -->         run in the background until
                                                                     the section ends; the next
                                                                     line waits for the port
    <!-- readme-test: exit 2 `txmon status` (CRITICAL) -->           the lines that must exit 2

Several directives are separated by `;`. A block without a marker must run and succeed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt
from markdown_it.token import Token

from conftest import REPO_ROOT, make_database
from txmon.cli import main
from txmon.db.connection import demo_database_url, drop_database

README = REPO_ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent

# The test runs inside the installed package's virtualenv, which is what `pip install` makes.
PIP_INSTALL = re.compile(r"^pip install [^&]*(?:&&\s*)?")
# curl exits 0 on an HTTP error; with --fail-with-body a 4xx or 5xx fails the line, body shown.
CURL = re.compile(r"^curl ")
LINE_TIMEOUT_SECONDS = 900
PORT_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 180
OUTPUT_TAIL_LINES = 15

MARKER = re.compile(r"^<!--\s*readme-test:(?P<body>.*?)-->\s*$", re.S)
# Directives are separated by `;`, which a reason in parentheses may hold too.
DIRECTIVE_SEPARATOR = re.compile(r";(?![^()]*\))")
DIRECTIVE = re.compile(
    r"^(?P<action>skip|background|exit\s+(?P<status>\d+))"
    r"(?:\s+`(?P<text>[^`]+)`)?"
    r"(?:\s+port\s+(?P<port>\d+))?"
    r"(?:\s+\((?P<reason>.+)\))?$"
)


def markdown() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


# -- reading the README ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Directive:
    action: str  # skip | background | exit
    text: str | None  # the lines holding this text; None: the whole block
    port: int | None
    reason: str | None
    status: int = 0  # the exit status `exit` expects

    def applies_to(self, line: str) -> bool:
        if self.text is None:
            return True
        # Whole words only: `txmon bench` does not name `txmon benchmark`.
        return re.search(rf"(?<![\w.-]){re.escape(self.text)}(?![\w-])", line) is not None


def parse_marker(comment: str) -> list[Directive] | None:
    """The directives of a `<!-- readme-test: ... -->` comment; None for any other HTML."""
    found = MARKER.match(comment.strip())
    if found is None:
        return None
    directives = []
    for part in DIRECTIVE_SEPARATOR.split(found["body"]):
        parsed = DIRECTIVE.match(part.strip())
        if parsed is None:
            raise ValueError(f"unreadable readme-test directive {part.strip()!r}")
        directive = Directive(
            action="exit" if parsed["status"] else parsed["action"],
            text=parsed["text"],
            port=int(parsed["port"]) if parsed["port"] else None,
            reason=parsed["reason"],
            status=int(parsed["status"] or 0),
        )
        if directive.action == "skip" and not directive.reason:
            raise ValueError(f"a skip says why, in parentheses: {part.strip()!r}")
        if directive.action in ("background", "exit") and directive.text is None:
            raise ValueError(
                f"{directive.action} names its command in backquotes: {part.strip()!r}"
            )
        directives.append(directive)
    return directives


@dataclass(frozen=True)
class Line:
    number: int  # in README.md, 1-based
    text: str
    action: str = "run"  # run | skip | background
    port: int | None = None
    note: str | None = None
    expected_status: int = 0


@dataclass(frozen=True)
class Block:
    language: str
    number: int  # the line of the opening fence
    section_level: int  # of the heading the block sits under
    lines: tuple[Line, ...]
    content: str
    directives: tuple[Directive, ...] = ()


@dataclass(frozen=True)
class Heading:
    level: int
    title: str


def logical_lines(content: str, first_number: int) -> Iterator[tuple[int, str]]:
    """Shell lines with their README line numbers; a trailing backslash continues a line, and
    blank and comment-only lines are left out."""
    pending: list[str] = []
    start = first_number
    for offset, raw in enumerate(content.splitlines()):
        if not pending:
            start = first_number + offset
        if raw.rstrip().endswith("\\"):
            pending.append(raw.rstrip()[:-1])
            continue
        text = " ".join(part.strip() for part in [*pending, raw]).strip()
        pending = []
        if text and not text.startswith("#"):
            yield start, text


def shell_line(number: int, text: str, directives: tuple[Directive, ...]) -> Line:
    expected_status = 0
    for directive in directives:
        if directive.applies_to(text):
            if directive.action != "exit":
                return Line(number, text, directive.action, directive.port, directive.reason)
            expected_status = directive.status
    installed = PIP_INSTALL.match(text)
    if installed:
        rest = text[installed.end() :].strip()
        if not rest:
            return Line(number, text, "skip", note="installed: the test runs in its virtualenv")
        text = rest
    if CURL.match(text):
        text = CURL.sub("curl --fail-with-body ", text, count=1)
    return Line(number, text, expected_status=expected_status)


def readme_items(text: str) -> list[Block | Heading]:
    """The README's headings and its ```bash and ```sql blocks, in order, with their markers."""
    tokens = markdown().parse(text)
    items: list[Block | Heading] = []
    section_level = 1
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            section_level = int(token.tag[1])
            items.append(Heading(section_level, tokens[index + 1].content))
        if token.type != "fence" or token.info.strip() not in ("bash", "sql"):
            continue
        assert token.map is not None
        previous = tokens[index - 1] if index else None
        directives: list[Directive] = []
        if previous is not None and previous.type == "html_block":
            directives = parse_marker(previous.content) or []
        fence_number = token.map[0] + 1
        lines = tuple(
            shell_line(number, line, tuple(directives))
            for number, line in logical_lines(token.content, fence_number + 1)
        )
        items.append(
            Block(
                token.info.strip(),
                fence_number,
                section_level,
                lines,
                token.content,
                tuple(directives),
            )
        )
    return items


# -- running it -----------------------------------------------------------------------------------


def copy_checkout(target: Path) -> None:
    """The files a clone holds (tracked, and new ones not ignored), as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split(b"\0")):
        source = REPO_ROOT / os.fsdecode(name)
        if source.is_file():  # a tracked file may have just been deleted
            destination = target / os.fsdecode(name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def reader_environment(home: Path, database_url: str | None) -> dict[str, str]:
    """A newcomer's shell: nothing of txmon's, libpq's or dbt's settings from this one."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TXMON_", "PG", "DBT_"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["TXMON_HOME"] = str(home)
    if database_url:
        env["TXMON_DATABASE_URL"] = database_url
    return env


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


# dbt colours its log lines even when they go to a file.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def tail(path: Path) -> str:
    text = ANSI_ESCAPE.sub("", path.read_text(errors="replace"))
    lines = text.splitlines()[-OUTPUT_TAIL_LINES:]
    return "\n".join(f"    {line}" for line in lines) or "    (no output)"


@dataclass
class Background:
    line: Line
    section_level: int
    process: subprocess.Popen[bytes]
    output: Path


@dataclass
class ReadmeSession:
    """One terminal following the README: the folder, the variables exported so far, the
    processes left running in the background, and what failed."""

    folder: Path
    env: dict[str, str]
    logs: Path
    failures: list[str] = field(default_factory=list)
    background: list[Background] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    def fail(self, line: Line, what: str, output: Path | None) -> None:
        shown = f"\n  last lines of output:\n{tail(output)}" if output else ""
        self.failures.append(f"README.md:{line.number}: {line.text}\n  {what}{shown}")

    def output_file(self, line: Line) -> Path:
        return self.logs / f"line-{line.number}.log"

    def run(self, line: Line) -> None:
        """Run one line in bash with the variables so far, and keep what it exports."""
        output = self.output_file(line)
        state = self.logs / "environment"
        state.unlink(missing_ok=True)
        script = f"{line.text}\n__status=$?\nenv -0 > {state}\nexit $__status\n"
        started = time.monotonic()
        with output.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", script],
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                status = process.wait(timeout=LINE_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                self.fail(line, f"still running after {LINE_TIMEOUT_SECONDS} s", output)
                return
        seconds = time.monotonic() - started
        self.transcript.append(f"{seconds:7.1f} s  README.md:{line.number}: {line.text}")
        if state.exists():
            self.env = self.exported(state)
        if status != line.expected_status:
            expected = (
                f" (the README expects {line.expected_status})" if line.expected_status else ""
            )
            self.fail(line, f"exit {status}{expected}", output)

    @staticmethod
    def exported(state: Path) -> dict[str, str]:
        variables = dict(
            entry.split("=", 1) for entry in state.read_text().split("\0") if "=" in entry
        )
        for bash_own in ("_", "SHLVL", "PWD", "OLDPWD"):
            variables.pop(bash_own, None)
        return variables

    def start(self, line: Line, section_level: int) -> None:
        """Start a line in the background; with a port, wait until it accepts connections."""
        if line.port is not None and port_open(line.port):
            self.fail(line, f"port {line.port} is taken by another program before the start", None)
            return
        output = self.output_file(line)
        with output.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", line.text],
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        job = Background(line, section_level, process, output)
        if line.port is not None:
            deadline = time.monotonic() + PORT_TIMEOUT_SECONDS
            while not port_open(line.port):
                if process.poll() is not None:
                    self.fail(line, f"exit {process.returncode} before listening", output)
                    return
                if time.monotonic() > deadline:
                    self.stop(job)
                    self.fail(
                        line,
                        f"not listening on port {line.port} after {PORT_TIMEOUT_SECONDS} s",
                        output,
                    )
                    return
                time.sleep(0.2)
        self.background.append(job)

    @staticmethod
    def stop(job: Background) -> str | None:
        """SIGTERM to the job's process group; what went wrong, if anything."""
        if job.process.poll() is not None:
            status = job.process.returncode
            return None if status == 0 else f"background command ended early with exit {status}"
        os.killpg(job.process.pid, signal.SIGTERM)
        try:
            job.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(job.process.pid, signal.SIGKILL)
            job.process.wait()
            return f"did not stop within {STOP_TIMEOUT_SECONDS} s of SIGTERM"
        return None

    def stop_background(self, down_to_level: int) -> None:
        """Stop what runs in the background of sections at `down_to_level` or deeper. Each
        must still be running (or have finished with 0) and end on SIGTERM."""
        ending = [job for job in self.background if job.section_level >= down_to_level]
        self.background = [job for job in self.background if job not in ending]
        for job in ending:
            problem = self.stop(job)
            if problem:
                self.fail(job.line, problem, job.output)

    def run_sql(self, block: Block) -> None:
        """A SQL block through psql, against the database txmon uses (the reader's own, as
        `psql` after `eval "$(txmon db env)"`)."""
        script = self.logs / f"README-block-{block.number}.sql"
        # Blank lines first, so that psql's line numbers in errors are the README's.
        script.write_text("\n" * block.number + block.content)
        command = f'psql "$(txmon db url)" -X -v ON_ERROR_STOP=1 -f {script}'
        self.run(Line(block.number, command))

    def follow(self, items: list[Block | Heading]) -> None:
        for item in items:
            if isinstance(item, Heading):
                self.stop_background(item.level)
            elif item.language == "sql":
                skip = [d for d in item.directives if d.action == "skip" and d.text is None]
                if skip:
                    self.transcript.append(f"  skipped README.md:{item.number} ({skip[0].reason})")
                else:
                    self.run_sql(item)
            else:
                for line in item.lines:
                    if line.action == "run":
                        self.run(line)
                    elif line.action == "background":
                        self.transcript.append(f"background README.md:{line.number}: {line.text}")
                        self.start(line, item.section_level)
                    else:
                        self.transcript.append(
                            f"  skipped README.md:{line.number}: {line.text} ({line.note})"
                        )
        self.stop_background(0)


@pytest.mark.slow
def test_readme_runs_top_to_bottom(tmp_path: Path) -> None:
    """Every shell and SQL example of the README succeeds, in order, in a fresh checkout."""
    folder, home, logs = tmp_path / "checkout", tmp_path / "home", tmp_path / "logs"
    folder.mkdir()
    logs.mkdir()
    copy_checkout(folder)
    server = os.environ.get("TXMON_TEST_DATABASE_URL")
    database_url = make_database(server) if server else None
    session = ReadmeSession(folder, reader_environment(home, database_url), logs)
    try:
        session.follow(readme_items(README.read_text()))
    finally:
        session.stop_background(0)
        if database_url and server:
            drop_database(server, demo_database_url(database_url))
            drop_database(server, database_url)
        else:
            subprocess.run(
                [str(VENV_BIN / "txmon"), "db", "stop"],
                env=reader_environment(home, None),
                cwd=folder,
                capture_output=True,
                check=False,
            )
    print("\n".join(session.transcript))
    if session.failures:
        pytest.fail(
            f"{len(session.failures)} README command(s) failed (output in {logs}):\n\n"
            + "\n\n".join(session.failures),
            pytrace=False,
        )


# -- the markers and the Commands table -----------------------------------------------------------


def test_readme_markers_name_lines_of_their_block() -> None:
    """A marker that names no line of its block (the command was renamed) would silently run
    what it meant to skip, or skip nothing: each must name at least one line."""
    blocks = [item for item in readme_items(README.read_text()) if isinstance(item, Block)]
    assert any(block.directives for block in blocks), "the README has readme-test markers"
    for block in blocks:
        for directive in block.directives:
            if directive.text is not None:
                assert any(directive.applies_to(line.text) for line in block.lines), (
                    f"README.md:{block.number}: `{directive.text}` names no line of the block"
                )


def test_marker_syntax() -> None:
    assert parse_marker("<!-- not ours -->") is None
    assert parse_marker("<!-- readme-test: skip (needs Docker) -->") == [
        Directive("skip", None, None, "needs Docker")
    ]
    assert parse_marker(
        "<!-- readme-test: skip `txmon superset up` (minutes; elsewhere);"
        " background `txmon serve` port 8000 -->"
    ) == [
        Directive("skip", "txmon superset up", None, "minutes; elsewhere"),
        Directive("background", "txmon serve", 8000, None),
    ]
    assert parse_marker(
        "<!--\n readme-test: exit 2 `txmon status`;\n skip `pytest` (slow)\n-->"
    ) == [
        Directive("exit", "txmon status", None, None, status=2),
        Directive("skip", "pytest", None, "slow"),
    ]
    with pytest.raises(ValueError, match="says why"):
        parse_marker("<!-- readme-test: skip `pytest` -->")
    with pytest.raises(ValueError, match="unreadable"):
        parse_marker("<!-- readme-test: ignore -->")


def test_lines_of_a_block() -> None:
    items = readme_items(
        "# T\n\n<!-- readme-test: skip `pytest` (the tests) -->\n```bash\n"
        "pip install . && txmon demo   # the demo\npip install '.[dev]' && pytest\n"
        "curl -s -X POST localhost:8000/x \\\n  -d '{}'\n# a comment\n```\n"
    )
    block = items[1]
    assert isinstance(block, Block)
    assert [(line.number, line.action, line.text) for line in block.lines] == [
        (5, "run", "txmon demo   # the demo"),
        (6, "skip", "pip install '.[dev]' && pytest"),
        (7, "run", "curl --fail-with-body -s -X POST localhost:8000/x -d '{}'"),
    ]


def command_table_cells() -> list[list[str]]:
    """The code spans of the first column of the table under the "Commands" heading."""
    tokens = markdown().parse(README.read_text())
    start = next(
        index
        for index, token in enumerate(tokens)
        if token.type == "heading_open" and tokens[index + 1].content == "Commands"
    )
    cells: list[list[str]] = []
    first_cell = False
    for token in tokens[start + 2 :]:
        if token.type == "heading_open" or token.type == "table_close":
            break
        if token.type == "tr_open":
            first_cell = True
        elif token.type == "td_open":
            continue
        elif token.type == "inline" and first_cell:
            first_cell = False
            cells.append(code_spans(token))
    return cells


def code_spans(token: Token) -> list[str]:
    return [child.content for child in token.children or [] if child.type == "code_inline"]


WORD = re.compile(r"^[a-z][a-z-]*(?:\|[a-z][a-z-]*)*$")


def documented_commands(cell: list[str]) -> Iterator[tuple[list[str], list[str]]]:
    """(subcommand path, options) for each command a cell shows: `txmon db start|stop` is two,
    and in `txmon superset up` / `down` the bare `down` replaces the last word."""
    path: list[str] = []
    for span in cell:
        words = span.split()
        if words[0] == "txmon":
            base, words = [], words[1:]
        else:
            base = path[:-1]
        own = []
        for word in words:
            if not WORD.match(word):
                break
            own.append(word.split("|"))
        options = re.findall(r"--[a-z][a-z-]*", span)
        expanded: list[list[str]] = [base]
        for alternatives in own:
            expanded = [[*prefix, word] for prefix in expanded for word in alternatives]
        for command in expanded:
            yield command, options
        path = expanded[0]


def click_command(path: list[str]) -> click.Command:
    command: click.Command = main
    context: click.Context | None = None
    for word in path:
        assert isinstance(command, click.Group), f"txmon {' '.join(path)}: not a group"
        context = click.Context(command, info_name=word, parent=context)
        found = command.get_command(context, word)
        assert found is not None, f"txmon {' '.join(path)}: no such command"
        command = found
    return command


def test_commands_table_parses() -> None:
    """Each command of the Commands table answers `--help`, and has every option it shows."""
    commands = [command for cell in command_table_cells() for command in documented_commands(cell)]
    assert len(commands) > 20, "the Commands table was read"
    runner = CliRunner()
    for path, options in commands:
        shown = " ".join(["txmon", *path])
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, f"{shown} --help: exit {result.exit_code}\n{result.output}"
        command = click_command(path)
        known = {name for param in command.params for name in [*param.opts, *param.secondary_opts]}
        missing = [option for option in options if option not in known]
        assert not missing, f"{shown}: no option {', '.join(missing)}"
