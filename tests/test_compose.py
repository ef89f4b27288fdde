"""compose.yaml and the Dockerfile, kept honest without Docker.

Docker is not available where the tests run, so compose.yaml is checked structurally (a schema of
the parts we use) and against the code: every ``pipeline ...`` command must parse with the real
CLI parser, the fleet file it mounts must pass ``pipeline config check --strict`` with the
services' environment, every account must point at the sandbox service serving its platform on
that port and path, and Prometheus must scrape every worker's metrics port.

The YAML is read by :class:`MiniYaml`, a strict reader of the subset compose.yaml uses (block
mappings and sequences, JSON-style flow collections, quoted and plain scalars, ``|`` literals,
anchors, aliases and ``<<`` merges). Anything outside that subset is an error, never a guess.
PyYAML is not a dependency of the project and one file does not justify adding it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipeline import platforms
from pipeline.cli import build_parser
from pipeline.configcheck import check_text

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"


# --- a strict reader for the YAML subset compose.yaml uses ------------------------------------


class YamlSubsetError(ValueError):
    pass


_KEY = re.compile(
    r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'\[\]{}#&*!|>%@`,-][^:#]*?|<<)\s*:(?:\s+|$)"""
)
_INT = re.compile(r"^[-+]?\d+$")


def _strip_comment(text: str) -> str:
    quote, depth = "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == "\\" and quote == '"':
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'" and (i == 0 or text[i - 1] in " [{,:"):
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "#" and (i == 0 or text[i - 1] == " "):
            return text[:i].rstrip()
    return text.rstrip()


class MiniYaml:
    def __init__(self, text: str) -> None:
        if "\t" in text:
            raise YamlSubsetError("tabs are not allowed in YAML indentation")
        self.lines = text.splitlines()
        self.i = 0
        self.anchors: dict[str, Any] = {}

    @classmethod
    def load(cls, text: str) -> Any:
        reader = cls(text)
        first = reader._peek()
        if first is None:
            return None
        value = reader._node(first[0])
        if reader._peek() is not None:
            raise YamlSubsetError(f"line {reader.i + 1}: unexpected indentation")
        return value

    def _peek(self) -> tuple[int, str] | None:
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            text = raw.strip()
            if not text or text.startswith("#") or text == "---":
                self.i += 1
                continue
            return len(raw) - len(raw.lstrip(" ")), _strip_comment(text)
        return None

    def _node(self, indent: int) -> Any:
        peek = self._peek()
        assert peek is not None
        if peek[1] == "-" or peek[1].startswith("- "):
            return self._seq(indent)
        return self._map(indent)

    def _map(self, indent: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: list[dict[str, Any]] = []
        while (peek := self._peek()) is not None and peek[0] == indent:
            text = peek[1]
            if text.startswith("- "):
                break
            match = _KEY.match(text)
            if not match:
                raise YamlSubsetError(f"line {self.i + 1}: expected `key: value`, got {text!r}")
            key_text = match.group(1)
            key = key_text if key_text == "<<" else self._scalar(key_text)
            if not isinstance(key, str):
                raise YamlSubsetError(f"line {self.i + 1}: keys must be strings")
            self.i += 1
            value = self._after_key(text[match.end() :].strip(), indent)
            if key == "<<":
                if not isinstance(value, dict):
                    raise YamlSubsetError(f"line {self.i}: `<<` merges a mapping alias")
                merged.append(value)
            elif key in out:
                raise YamlSubsetError(f"line {self.i}: duplicate key {key!r}")
            else:
                out[key] = value
        if peek is not None and peek[0] > indent:
            raise YamlSubsetError(f"line {self.i + 1}: unexpected indentation")
        for mapping in merged:  # explicit keys win over merged ones, whatever their order
            for key, value in mapping.items():
                out.setdefault(key, copy.deepcopy(value))
        return out

    def _after_key(self, rest: str, indent: int) -> Any:
        anchor = None
        if rest.startswith("&"):
            anchor, _, rest = rest[1:].partition(" ")
            rest = rest.strip()
        if rest in ("|", "|-"):
            value: Any = self._literal(indent, keep_newline=rest == "|")
        elif rest:
            value = self._scalar(rest)
        else:
            peek = self._peek()
            if peek is not None and peek[0] > indent:
                value = self._node(peek[0])
            elif peek is not None and peek[0] == indent and peek[1].startswith("- "):
                value = self._seq(indent)
            else:
                value = None
        if anchor:
            self.anchors[anchor] = value
        return value

    def _seq(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while (peek := self._peek()) is not None and peek[0] == indent:
            text = peek[1]
            if text != "-" and not text.startswith("- "):
                break
            rest = text[1:].strip()
            if not rest:
                self.i += 1
                nxt = self._peek()
                out.append(self._node(nxt[0]) if nxt is not None and nxt[0] > indent else None)
            elif _KEY.match(rest):  # "- key: value": a mapping whose keys align after the dash
                column = indent + len(text) - len(text[1:].lstrip()) + 0
                self.lines[self.i] = " " * column + rest
                out.append(self._map(column))
            else:
                self.i += 1
                out.append(self._scalar(rest))
        return out

    def _literal(self, indent: int, *, keep_newline: bool) -> str:
        lines: list[str] = []
        block_indent: int | None = None
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            if raw.strip():
                here = len(raw) - len(raw.lstrip(" "))
                if here <= indent:
                    break
                block_indent = here if block_indent is None else block_indent
                if here < block_indent:
                    raise YamlSubsetError(
                        f"line {self.i + 1}: literal less indented than its start"
                    )
                lines.append(raw[block_indent:])
            else:
                lines.append("")
            self.i += 1
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + ("\n" if keep_newline and lines else "")

    def _scalar(self, text: str) -> Any:
        if text.startswith("*"):
            name = text[1:]
            if name not in self.anchors:
                raise YamlSubsetError(f"line {self.i}: unknown alias *{name}")
            return copy.deepcopy(self.anchors[name])
        if text[0] in '"[{':
            try:
                return json.loads(text)  # double-quoted strings and flow collections: JSON style
            except json.JSONDecodeError as exc:
                raise YamlSubsetError(f"line {self.i}: not JSON-style flow: {text!r}") from exc
        if text[0] == "'":
            if len(text) < 2 or not text.endswith("'"):
                raise YamlSubsetError(f"line {self.i}: unterminated quote")
            return text[1:-1].replace("''", "'")
        if text[0] in "&!%@`|>":
            raise YamlSubsetError(f"line {self.i}: unsupported YAML: {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text in ("null", "~"):
            return None
        if _INT.match(text):
            return int(text)
        return text


def test_reader_reads_the_subset() -> None:
    text = """
x-base: &base
  image: a:1
  list:
    - one
    - "two # not a comment"
service:
  <<: *base
  image: b:2   # explicit key wins over the merged one
  command: ["pipeline", "up"]
  nested:
    - name: n
      port: 80
    - 'it''s'
  empty:
  text: |
    line 1
      indented
    # kept
"""
    data = MiniYaml.load(text)
    assert data["service"] == {
        "image": "b:2",
        "list": ["one", "two # not a comment"],
        "command": ["pipeline", "up"],
        "nested": [{"name": "n", "port": 80}, "it's"],
        "empty": None,
        "text": "line 1\n  indented\n# kept\n",
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",  # duplicate key
        "a:\n  - x\n   - y\n",  # bad indentation
        "a: *nothing\n",  # unknown alias
        "a: [unquoted, flow]\n",  # flow must be JSON style
        "a: >\n  folded\n",  # folded scalars are not in the subset
        "a:\n\tb: 1\n",  # tabs
    ],
)
def test_reader_refuses_what_it_does_not_know(text: str) -> None:
    with pytest.raises(YamlSubsetError):
        MiniYaml.load(text)


# --- the checks -------------------------------------------------------------------------------

SERVICE_KEYS = {
    "image", "build", "command", "environment", "ports", "volumes", "depends_on", "configs",
    "healthcheck", "restart", "hostname", "stop_grace_period",
}  # fmt: skip
TOP_KEYS = {"name", "services", "volumes", "configs"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
RESTARTS = {"no", "always", "on-failure", "unless-stopped"}
DURATION = re.compile(r"^\d+(ms|s|m|h)$")
PORT = re.compile(r"^127\.0\.0\.1:(\d+):(\d+)$")
ROLE_COMMANDS = {"poll", "apply", "run"}
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - inside a container, so the other services reach it


def load_compose() -> dict[str, Any]:
    data = MiniYaml.load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _argv(service: dict[str, Any]) -> list[str] | None:
    command = service.get("command")
    return command if isinstance(command, list) and command[:1] == ["pipeline"] else None


def _parsed(service: dict[str, Any]) -> argparse.Namespace | None:
    """The service's `pipeline` command as the real CLI reads it (None: not one, or it does not
    parse -- :func:`command_problems` reports that)."""
    argv = _argv(service)
    if argv is None:
        return None
    with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(SystemExit):
        return build_parser().parse_args(argv[1:])
    return None


def structure_problems(compose: dict[str, Any]) -> list[str]:
    """The shape: keys, images, exec-form commands, ports, volumes, configs, dependencies."""
    problems = []
    for key in compose:
        if key not in TOP_KEYS and not key.startswith("x-"):
            problems.append(f"unknown top-level key {key}")
    services = compose.get("services") or {}
    volumes = compose.get("volumes") or {}
    configs = compose.get("configs") or {}
    for name, svc in services.items():
        where = f"services.{name}"
        for key in svc:
            if key not in SERVICE_KEYS:
                problems.append(f"{where}: unknown key {key}")
        image = svc.get("image")
        if not isinstance(image, str) or ":" not in image or image.endswith(":latest"):
            problems.append(f"{where}: needs a pinned image (name:tag)")
        if "build" in svc and svc["build"] != ".":
            problems.append(f"{where}: build context must be the project (.)")
        command = svc.get("command")
        if command is not None and not (
            isinstance(command, list) and all(isinstance(a, str) for a in command)
        ):
            problems.append(f"{where}: command must be an exec-form list of strings")
        env = svc.get("environment") or {}
        if not isinstance(env, dict) or not all(
            isinstance(v, str | int | bool) for v in env.values()
        ):
            problems.append(f"{where}: environment must map names to scalars")
        for port in svc.get("ports") or []:
            if not isinstance(port, str) or not PORT.match(port):
                problems.append(f"{where}: port {port!r} must be published on 127.0.0.1 only")
        for volume in svc.get("volumes") or []:
            source, _, target = str(volume).partition(":")
            if source not in volumes or not target.startswith("/"):
                problems.append(f"{where}: volume {volume!r} is not a declared named volume")
        for cfg in svc.get("configs") or []:
            if not isinstance(cfg, dict) or cfg.get("source") not in configs:
                problems.append(f"{where}: config {cfg!r} is not declared")
            elif not str(cfg.get("target", "")).startswith("/"):
                problems.append(f"{where}: config {cfg['source']} needs an absolute target")
        restart = svc.get("restart", "no")
        if restart not in RESTARTS:
            problems.append(f"{where}: restart {restart!r}")
        health = svc.get("healthcheck")
        if health is not None:
            test = health.get("test")
            if not (isinstance(test, list) and test[:1] in (["CMD"], ["CMD-SHELL"])):
                problems.append(f"{where}: healthcheck.test must be a CMD list")
            for key in ("interval", "timeout", "start_period"):
                if key in health and not DURATION.match(str(health[key])):
                    problems.append(f"{where}: healthcheck.{key} {health[key]!r}")
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {dep: {"condition": "service_started"} for dep in deps}
        for dep, rule in deps.items():
            condition = (rule or {}).get("condition")
            if dep not in services:
                problems.append(f"{where}: depends on unknown service {dep}")
                continue
            if condition not in CONDITIONS:
                problems.append(f"{where}: depends_on.{dep}.condition {condition!r}")
            if condition == "service_healthy" and "healthcheck" not in services[dep]:
                problems.append(f"{where}: waits for {dep} to be healthy; it has no healthcheck")
            if condition == "service_completed_successfully" and services[dep].get(
                "restart", "no"
            ) not in ("no", "on-failure"):
                problems.append(f"{where}: waits for {dep} to complete; it restarts forever")
    for name, cfg in configs.items():
        if not isinstance(cfg, dict) or not isinstance(cfg.get("content"), str):
            problems.append(f"configs.{name}: inline `content` expected")
    for name in volumes:
        if not any(
            str(v).startswith(f"{name}:") for s in services.values() for v in s.get("volumes") or []
        ):
            problems.append(f"volumes.{name}: declared but unused")
    return problems


def command_problems(compose: dict[str, Any]) -> list[str]:
    """Every `pipeline ...` command parses with the real CLI, Dockerfile's CMD included."""
    parser = build_parser()
    problems = []
    commands = [(f"services.{n}", _argv(s)) for n, s in compose["services"].items()]
    commands.append(("Dockerfile CMD", dockerfile_cmd()))
    for where, argv in commands:
        if argv is None:
            continue
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                parser.parse_args(argv[1:])
        except SystemExit:
            problems.append(f"{where}: `{shlex.join(argv)}` does not parse")
    return problems


def _kafka_listeners(kafka: dict[str, Any]) -> dict[str, str]:
    """Advertised listener name → host:port."""
    env = kafka["environment"]
    out = {}
    for item in str(env["KAFKA_ADVERTISED_LISTENERS"]).split(","):
        name, _, address = item.partition("://")
        out[name] = address
    return out


def wiring_problems(compose: dict[str, Any]) -> list[str]:
    """The parts point at each other: broker listeners, fleet file, sandboxes, Prometheus."""
    problems = []
    services = compose["services"]
    kafka = services.get("kafka")
    if kafka is None:
        return ["no kafka service"]
    env = kafka["environment"]
    if not str(kafka.get("image", "")).startswith("apache/kafka:"):
        problems.append("kafka: the production broker is Apache Kafka (apache/kafka image)")
    if set(str(env.get("KAFKA_PROCESS_ROLES")).split(",")) != {"broker", "controller"}:
        problems.append("kafka: a single KRaft node is broker and controller")
    protocol_map = dict(
        p.split(":") for p in str(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]).split(",")
    )
    listeners = {
        item.partition("://")[0]: int(item.rpartition(":")[2])
        for item in str(env["KAFKA_LISTENERS"]).split(",")
    }
    advertised = _kafka_listeners(kafka)
    for name in (*listeners, *advertised):
        if name not in protocol_map:
            problems.append(f"kafka: listener {name} has no security protocol")
    controller = env.get("KAFKA_CONTROLLER_LISTENER_NAMES")
    if f"{env.get('KAFKA_NODE_ID')}@kafka:{listeners.get(str(controller))}" != env.get(
        "KAFKA_CONTROLLER_QUORUM_VOTERS"
    ):
        problems.append("kafka: the quorum voter must be this node on the controller listener")
    internal = advertised.get(str(env.get("KAFKA_INTER_BROKER_LISTENER_NAME")))
    if internal != f"kafka:{listeners.get(str(env.get('KAFKA_INTER_BROKER_LISTENER_NAME')))}":
        problems.append("kafka: the inter-broker listener must advertise kafka:<its port>")
    published = {int(PORT.match(p).group(2)) for p in kafka.get("ports", []) if PORT.match(p)}
    for name, address in advertised.items():
        host, _, port = address.rpartition(":")
        if host in ("127.0.0.1", "localhost") and int(port) not in published:
            problems.append(f"kafka: listener {name} advertises {address} but is not published")

    sandboxes: dict[str, tuple[str, int]] = {}  # service → (platform, port)
    parsed = {name: _parsed(svc) for name, svc in services.items()}
    for name, args in parsed.items():
        if args is not None and args.command == "sandbox":
            if args.platform is None or args.port is None:
                problems.append(f"{name}: a sandbox needs a fixed --platform and --port")
                continue
            if args.host != ALL_INTERFACES:
                problems.append(f"{name}: a sandbox must listen on 0.0.0.0 to be reachable")
            sandboxes[name] = (args.platform, args.port)
    missing = set(platforms.registry()) - {p for p, _ in sandboxes.values()}
    if missing:
        problems.append(f"no sandbox service for {sorted(missing)}")
    topics = [a for a in parsed.values() if a and a.command == "topics" and a.action == "create"]
    if len(topics) != 1:
        problems.append("one one-shot `pipeline topics create` service expected")
    elif topics[0].bootstrap != advertised.get("PLAINTEXT"):
        problems.append("topics: --bootstrap must be the broker's PLAINTEXT listener")

    workers = {n: a for n, a in parsed.items() if a is not None and a.command in ROLE_COMMANDS}
    roles = sorted(a.command for a in workers.values())
    if roles != ["apply", "apply", "poll", "poll"]:
        problems.append(f"two pollers and two appliers expected, got {roles}")
    configs = compose.get("configs") or {}
    metrics_targets = set()
    for name, args in workers.items():
        svc = services[name]
        path = args.config
        mounted = {c["target"]: c["source"] for c in svc.get("configs") or []}
        if path not in mounted:
            problems.append(f"{name}: --config {path} is not mounted")
            continue
        text = configs[mounted[path]]["content"]
        environ = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        found = check_text(
            text, platforms=platforms.credential_keys(), environ=environ, strict=True
        )
        problems += [f"{name}: {path}: {p}" for p in found]
        config = _toml(text)
        if config.get("kafka", {}).get("bootstrap") != advertised.get("PLAINTEXT"):
            problems.append(f"{name}: kafka.bootstrap must be the broker's PLAINTEXT listener")
        metrics = config.get("metrics", {})
        if metrics.get("host") != ALL_INTERFACES:
            problems.append(f"{name}: [metrics] host must be 0.0.0.0 for Prometheus to reach it")
        port = int(metrics.get("port", 9464))
        metrics_targets.add(f"{name}:{port}")
        health = " ".join(svc.get("healthcheck", {}).get("test", []))
        if f"127.0.0.1:{port}/healthz" not in health:
            problems.append(f"{name}: the healthcheck must ask /healthz on port {port}")
        for dep in sandboxes:
            if dep not in (svc.get("depends_on") or {}):
                problems.append(f"{name}: does not wait for {dep}")
        for i, acc in enumerate(config.get("accounts", [])):
            url = urlsplit(str(acc.get("base_url")))
            served = sandboxes.get(str(url.hostname))
            if served is None or served != (acc.get("platform"), url.port):
                problems.append(
                    f"{name}: accounts[{i}] ({acc.get('platform')}) points at {url.netloc}, "
                    "not at the sandbox service serving that platform on that port"
                )
                continue
            base_path = platforms.sandbox_class(served[0]).base_path
            if url.path.rstrip("/") != base_path.rstrip("/"):
                problems.append(f"{name}: accounts[{i}] path {url.path!r} is not {base_path!r}")
    scrape = MiniYaml.load(configs.get("prometheus", {}).get("content", ""))
    targets = {
        target
        for job in (scrape or {}).get("scrape_configs", [])
        for static in job.get("static_configs", [])
        for target in static.get("targets", [])
    }
    if targets != metrics_targets:
        problems.append(
            f"prometheus scrapes {sorted(targets)}, workers serve {sorted(metrics_targets)}"
        )
    return problems


def _toml(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


def dockerfile_cmd() -> list[str]:
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    cmds = [line.removeprefix("CMD").strip() for line in lines if line.startswith("CMD ")]
    assert len(cmds) == 1, "one exec-form CMD"
    argv = json.loads(cmds[0])
    assert isinstance(argv, list)
    return [str(a) for a in argv]


# --- the real files ---------------------------------------------------------------------------


def test_compose_has_the_structure_we_use() -> None:
    assert structure_problems(load_compose()) == []


def test_every_pipeline_command_parses_with_the_real_cli() -> None:
    compose = load_compose()
    assert command_problems(compose) == []
    assert sum(_argv(s) is not None for s in compose["services"].values()) >= 9


def test_compose_parts_point_at_each_other() -> None:
    assert wiring_problems(load_compose()) == []


def test_dockerfile_builds_the_worker_image() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    for part in ("pyproject.toml", "README.md", "schemas", "pipeline"):
        assert re.search(rf"^COPY .*\b{re.escape(part)}\b", text, re.M), part
    install = re.search(r"pip install (\S+)", text)
    assert install is not None and install.group(1) == "."  # no extras: no embedded broker
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert re.search(r"^EXPOSE 9464$", text, re.M)
    assert dockerfile_cmd()[:1] == ["pipeline"]


# --- each check can fail ----------------------------------------------------------------------


def _mutated(change: Any) -> dict[str, Any]:
    compose = load_compose()
    change(compose)
    return compose


def _replace_arg(compose: dict[str, Any], service: str, old: str, new: str) -> None:
    command = compose["services"][service]["command"]
    command[command.index(old)] = new


def _set_fleet(compose: dict[str, Any], old: str, new: str) -> None:
    content = compose["configs"]["fleet"]["content"]
    assert old in content
    compose["configs"]["fleet"]["content"] = content.replace(old, new)


@pytest.mark.parametrize(
    ("change", "check", "expected"),
    [
        (
            lambda c: c["services"]["kafka"]["ports"].__setitem__(0, "29092:29092"),
            structure_problems,
            "127.0.0.1 only",
        ),
        (
            lambda c: c["services"]["poller-1"]["depends_on"].__setitem__(
                "prometheus", {"condition": "service_healthy"}
            ),
            structure_problems,
            "no healthcheck",
        ),
        (
            lambda c: c["services"]["topics"].__setitem__("image", "marketplace-pipeline:latest"),
            structure_problems,
            "pinned image",
        ),
        (
            lambda c: c["services"]["poller-2"]["command"].append("--verbose"),
            command_problems,
            "does not parse",
        ),
        (
            lambda c: _replace_arg(c, "sandbox-ecarsi", "8102", "9999"),
            wiring_problems,
            "not at the sandbox service",
        ),
        (
            lambda c: _set_fleet(c, "sandbox-c2c:8103/api/c2c/", "sandbox-c2c:8103/c2c/"),
            wiring_problems,
            "is not '/api/c2c/StoreOrderServices'",
        ),
        (
            lambda c: _set_fleet(
                c,
                'credentials.api_secret = { env = "WEBSERVIS_MAIN_API_SECRET" }',
                'credentials.api_secret = "plain-text"',
            ),
            wiring_problems,
            "secrets by reference only",
        ),
        (
            lambda c: c["services"]["applier-2"]["environment"].pop("SOFTTR_MAIN_PASSWORD"),
            wiring_problems,
            "SOFTTR_MAIN_PASSWORD is not set",
        ),
        (
            lambda c: _set_fleet(c, 'host = "0.0.0.0"', 'host = "127.0.0.1"'),
            wiring_problems,
            "[metrics] host must be 0.0.0.0",
        ),
        (
            lambda c: c["services"].pop("applier-2"),
            wiring_problems,
            "two pollers and two appliers",
        ),
        (
            lambda c: c["services"]["kafka"]["environment"].__setitem__(
                "KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://localhost:9092,HOST://127.0.0.1:29092"
            ),
            wiring_problems,
            "inter-broker listener",
        ),
        (
            lambda c: _replace_arg(c, "sandbox-softtr", ALL_INTERFACES, "127.0.0.1"),
            wiring_problems,
            "must listen on 0.0.0.0",
        ),
    ],
)
def test_each_check_catches_its_mistake(change: Any, check: Any, expected: str) -> None:
    problems = check(_mutated(change))
    assert any(expected in p for p in problems), problems
