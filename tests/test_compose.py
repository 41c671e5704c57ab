"""The Docker setup, checked without Docker: docker-compose.yml, the Dockerfile, .dockerignore,
.env.example and deploy/config.toml agree with each other and with the code.

Compose's interpolation (`${VAR}`, `${VAR:-default}`, `${VAR:?error}`, nested, `$$`) is
re-implemented here after the Compose specification, so the file is checked as Compose would
resolve it from an .env copied from .env.example.
"""

from __future__ import annotations

import re
import secrets
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest

# PyYAML comes with the test extra through awscli (billflow[demo]) and openapi-spec-validator.
import yaml

from billing.invoice_pdf import RUPEE_FONT_CANDIDATES
from proxy import config as proxy_config
from proxy import config_billing
from proxy.__main__ import main as billflow_main
from proxy.config import Config, load
from proxy.crypto import SecretBox

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY_CONFIG = ROOT / "deploy" / "config.toml"
VENV_SH = ROOT / "scripts" / "_venv.sh"

SERVICES = {"minio", "billflow", "mailpit"}
#: MinIO's S3 port when `minio server` is given no --address.
MINIO_API_PORT = 9000
#: Mailpit's SMTP port.
MAILPIT_SMTP_PORT = 1025
#: The CLI's config-path variable; test_config_path_variable_is_read_by_the_cli proves it.
CONFIG_PATH_ENV = "BILLFLOW_CONFIG"
#: Every secret the code reads from the environment (proxy/config.py, proxy/config_billing.py).
SECRET_ENV = {
    getattr(module, name)
    for module in (proxy_config, config_billing)
    for name in dir(module)
    if name.startswith("ENV_")
}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|(^|_)KEY($|_)", re.I)


# --- Compose interpolation --------------------------------------------------------------------


class MissingVariable(Exception):
    """`${VAR:?error}` / `${VAR?error}` with VAR missing: Compose refuses the file."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATOR = re.compile(r":-|-|:\?|\?|:\+|\+")


def _expand(
    text: str, env: Mapping[str, str], used: set[str], pos: int, *, nested: bool, strict: bool
) -> tuple[str, int]:
    """Expand text[pos:] up to the end (or, nested, up to its closing brace). Records every
    variable named, taken branch or not, in `used`; raises MissingVariable only when `strict`
    (the text is a branch Compose takes)."""
    out: list[str] = []
    i = pos
    while i < len(text):
        char = text[i]
        if nested and char == "}":
            return "".join(out), i
        if char != "$":
            out.append(char)
            i += 1
            continue
        after = text[i + 1 : i + 2]
        if after == "$":
            out.append("$")
            i += 2
            continue
        if after != "{":
            bare = _NAME.match(text, i + 1)
            if bare:
                used.add(bare.group())
                out.append(env.get(bare.group(), ""))
                i = bare.end()
            else:
                out.append("$")
                i += 1
            continue
        name_match = _NAME.match(text, i + 2)
        assert name_match, f"not a variable reference Compose understands: {text[i:]!r}"
        name = name_match.group()
        used.add(name)
        j = name_match.end()
        if text[j : j + 1] == "}":
            out.append(env.get(name, ""))
            i = j + 1
            continue
        op_match = _OPERATOR.match(text, j)
        assert op_match, f"unsupported interpolation in {text!r} (Compose has no {text[j:]!r})"
        op = op_match.group()
        present = bool(env.get(name)) if op.startswith(":") else name in env
        kind = op[-1]
        takes_arg = (kind == "-" and not present) or (kind == "+" and present)
        arg, end = _expand(
            text, env, used, op_match.end(), nested=True, strict=strict and takes_arg
        )
        assert text[end : end + 1] == "}", f"unclosed ${{ in {text!r}"
        i = end + 1
        if kind == "?" and not present and strict:
            raise MissingVariable(name, arg)
        if kind == "+":
            out.append(arg if present else "")
        else:
            out.append(env[name] if present else arg)
    assert not nested, f"unclosed ${{ in {text!r}"
    return "".join(out), i


def interpolate(value: Any, env: Mapping[str, str], used: set[str] | None = None) -> Any:
    """Compose's interpolation of every string value (never keys) in a parsed file."""
    used = set() if used is None else used
    if isinstance(value, str):
        return _expand(value, env, used, 0, nested=False, strict=True)[0]
    if isinstance(value, list):
        return [interpolate(item, env, used) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env, used) for key, item in value.items()}
    return value


def test_interpolation_follows_the_compose_specification() -> None:
    env = {"SET": "v", "EMPTY": ""}
    cases = {
        "${SET}": "v",
        "$SET/x": "v/x",
        "${UNSET}": "",
        "${EMPTY:-d}": "d",
        "${EMPTY-d}": "",
        "${UNSET-d}": "d",
        "${UNSET:-${SET}}": "v",
        "${UNSET:-${ALSO_UNSET:-deep}}": "deep",
        "${SET:+alt}": "alt",
        "${EMPTY:+alt}": "",
        "${SET:?never}": "v",
        "${SET:-${MISSING:?not taken}}": "v",
        "$$SET ${EMPTY}": "$SET ",
    }
    for text, expected in cases.items():
        assert interpolate(text, env) == expected, text
    with pytest.raises(MissingVariable, match="EMPTY: fill it in"):
        interpolate("${EMPTY:?fill it in}", env)
    used: set[str] = set()
    interpolate({"k": ["${A:-${B}}", "$C"]}, {}, used)
    assert used == {"A", "B", "C"}


# --- Reading the files ------------------------------------------------------------------------


def _env_example() -> dict[str, str]:
    """.env.example as Compose reads an .env file: NAME=value lines, # comments."""
    values: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        assert sep and _NAME.fullmatch(name), f".env.example:{number}: not NAME=value: {line!r}"
        assert name not in values, f".env.example:{number}: {name} defined twice"
        values[name] = value
    return values


def _fake_secret(name: str) -> str:
    if name == proxy_config.ENV_MASTER_KEY:
        return SecretBox.generate_key()
    return secrets.token_urlsafe(48)


def _filled_env() -> tuple[dict[str, str], set[str]]:
    """An .env copied from .env.example with each secret Compose insists on filled in, and the
    names Compose insisted on (refusing the unfilled copy)."""
    env = _env_example()
    raw = yaml.safe_load(COMPOSE.read_text())
    required: set[str] = set()
    while True:
        try:
            interpolate(raw, env)
        except MissingVariable as e:
            assert e.name not in required
            required.add(e.name)
            env[e.name] = _fake_secret(e.name)
        else:
            return env, required


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return _filled_env()[0]


@pytest.fixture(scope="module")
def compose(env: dict[str, str]) -> dict[str, Any]:
    resolved: dict[str, Any] = interpolate(yaml.safe_load(COMPOSE.read_text()), env)
    return resolved


@pytest.fixture(scope="module")
def billflow_env(compose: dict[str, Any]) -> dict[str, str]:
    """The billflow container's environment, as Compose resolves it (mapping or list form)."""
    environment = compose["services"]["billflow"].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


@pytest.fixture(scope="module")
def cfg(billflow_env: dict[str, str]) -> Config:
    """deploy/config.toml through the real loader, with the container's environment."""
    return load(DEPLOY_CONFIG, billflow_env)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def _dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(DOCKERFILE.read_text().splitlines(), 1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def _instructions(keyword: str) -> list[Instruction]:
    return [i for i in _dockerfile() if i.keyword == keyword]


def _run_commands() -> list[list[str]]:
    """Every shell command of every RUN, split on && into argument lists."""
    commands: list[list[str]] = []
    for run in _instructions("RUN"):
        for part in re.split(r"&&|;", run.args):
            if part.strip():
                commands.append(shlex.split(part))
    return commands


def _env_instructions(keyword: str) -> dict[str, str]:
    """ENV (or ARG) names -> values, `NAME=value ...` and legacy `NAME value` forms."""
    values: dict[str, str] = {}
    for instruction in _instructions(keyword):
        words = shlex.split(instruction.args)
        if words and "=" not in words[0] and keyword == "ENV":
            values[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            name, _, value = word.partition("=")
            values[name] = value
    return values


def _image_env() -> dict[str, str]:
    return _env_instructions("ENV")


# --- Compose: services, health, dependencies ---------------------------------------------------


def test_compose_has_minio_billflow_and_mailpit(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    assert compose["services"]["mailpit"]["image"].startswith("axllent/mailpit")
    assert "minio" in compose["services"]["minio"]["image"]
    build = compose["services"]["billflow"]["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context).resolve() == ROOT
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE


def _healthcheck_test(service: dict[str, Any]) -> list[str]:
    check = service.get("healthcheck")
    assert check, "no healthcheck"
    assert not check.get("disable"), "healthcheck disabled"
    test = check["test"]
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    assert test[0] in {"CMD", "CMD-SHELL"}, f"healthcheck test {test!r} runs nothing"
    return [str(word) for word in test]


def test_minio_has_a_health_check_and_persistent_storage(compose: dict[str, Any]) -> None:
    minio = compose["services"]["minio"]
    test = _healthcheck_test(minio)
    assert len(test) > 1
    command = minio["command"]
    words = shlex.split(command) if isinstance(command, str) else command
    assert "server" in words and "--address" not in words, "BillFlow expects MinIO's S3 on 9000"
    data_dir = words[words.index("server") + 1]
    sources = [_volume(spec) for spec in minio["volumes"]]
    assert any(target == data_dir for _, target in sources), f"{data_dir} is not on a volume"
    for source, target in sources:
        if target == data_dir:
            _assert_persistent(compose, source)


def _volume(spec: str | dict[str, Any]) -> tuple[str, str]:
    """A service volume -> (source, target)."""
    if isinstance(spec, dict):
        return str(spec.get("source", "")), str(spec["target"])
    parts = spec.split(":")
    assert len(parts) >= 2, f"anonymous volume {spec!r} does not survive `docker compose down`"
    return parts[0], parts[1]


def _assert_persistent(compose: dict[str, Any], source: str) -> None:
    if source.startswith((".", "/", "~")):
        return  # a host directory
    assert source in (compose.get("volumes") or {}), f"volume {source!r} is not declared"


def test_billflow_waits_for_a_healthy_minio(compose: dict[str, Any]) -> None:
    depends = compose["services"]["billflow"]["depends_on"]
    assert isinstance(depends, dict), "depends_on needs the long form to wait for health"
    assert depends["minio"]["condition"] == "service_healthy"
    assert "mailpit" in depends


_HEALTH_URL = re.compile(r"""https?://[^\s'"]+""")


def _health_url(command: list[str]) -> str:
    urls = _HEALTH_URL.findall(" ".join(command))
    assert len(urls) == 1, f"expected one URL in the health check {command!r}"
    return str(urls[0])


def _assert_hits_admin_healthz(url: str, cfg: Config) -> None:
    parts = urlsplit(url)
    assert parts.path == "/healthz", url
    assert parts.scheme == cfg.admin.scheme, url
    assert parts.hostname in {"127.0.0.1", "localhost"}, url
    assert parts.port == cfg.admin.port, f"{url}: the admin listener is on {cfg.admin.port}"
    # From inside the container 127.0.0.1 reaches the listener only if it listens there too.
    assert cfg.admin.host in {"0.0.0.0", "127.0.0.1", "localhost"}


def test_billflow_health_check_hits_healthz_on_the_admin_port(
    compose: dict[str, Any], cfg: Config
) -> None:
    _assert_hits_admin_healthz(_health_url(_healthcheck_test(compose["services"]["billflow"])), cfg)


@contextmanager
def _serve_healthz(status: int) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_billflow_health_check_command_passes_only_on_200(
    compose: dict[str, Any], status: int, healthy: bool
) -> None:
    """The compose health check runs in the image's Python; run it here, pointed at a stub."""
    test = _healthcheck_test(compose["services"]["billflow"])
    assert test[0] == "CMD" and test[1] in {"python", "python3"}, "the image has no curl"
    url = _health_url(test)
    with _serve_healthz(status) as port:
        local = url.replace(f":{urlsplit(url).port}/", f":{port}/")
        argv = [sys.executable, *(word.replace(url, local) for word in test[2:])]
        result = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        assert (result.returncode == 0) is healthy, result.stderr.decode()


def _compose_seconds(text: str) -> float:
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"bad duration {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def test_billflow_gets_time_to_drain_and_flush_before_sigkill(
    compose: dict[str, Any], cfg: Config
) -> None:
    grace = _compose_seconds(str(compose["services"]["billflow"]["stop_grace_period"]))
    assert grace > cfg.s3.drain_seconds + cfg.meter.flush_interval_seconds


# --- Compose: environment and secrets ----------------------------------------------------------


def test_config_path_variable_is_read_by_the_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = tmp_path / "absent.toml"
    monkeypatch.setenv(CONFIG_PATH_ENV, str(absent))
    assert billflow_main(["master-key", "generate"]) == 2
    assert str(absent) in capsys.readouterr().err


def test_every_billflow_variable_in_compose_is_one_the_code_reads(
    billflow_env: dict[str, str],
) -> None:
    known = SECRET_ENV | {CONFIG_PATH_ENV}
    raw = yaml.safe_load(COMPOSE.read_text())
    names = set(billflow_env) | set(_env_example())
    interpolate(raw, _filled_env()[0], names)  # and every ${VAR} the file names
    unknown = {n for n in names if n.startswith("BILLFLOW_")} - known
    assert not unknown, f"BillFlow reads no such variable: {sorted(unknown)}"


def test_every_secret_the_code_reads_is_passed_to_billflow(billflow_env: dict[str, str]) -> None:
    assert SECRET_ENV <= set(billflow_env), sorted(SECRET_ENV - set(billflow_env))


def test_serve_finds_every_secret_it_needs(cfg: Config) -> None:
    """What `billflow serve` checks before it starts, with the container's environment."""
    cfg.upstream.require_credentials()
    SecretBox.from_text(cfg.require_master_key())
    cfg.admin_tokens.require_secret()
    if cfg.billing.smtp is not None and cfg.billing.smtp.username:
        assert cfg.billing.smtp.password


def test_billflow_signs_with_minio_root_credentials_unless_given_its_own(
    compose: dict[str, Any], billflow_env: dict[str, str]
) -> None:
    minio = compose["services"]["minio"]["environment"]
    upstream_secret = billflow_env[proxy_config.ENV_UPSTREAM_SECRET_ACCESS_KEY]
    assert billflow_env[proxy_config.ENV_UPSTREAM_ACCESS_KEY_ID] == minio["MINIO_ROOT_USER"]
    assert upstream_secret == minio["MINIO_ROOT_PASSWORD"]


def test_compose_refuses_an_env_with_the_secrets_left_empty() -> None:
    _, required = _filled_env()
    assert {
        proxy_config.ENV_MASTER_KEY,
        proxy_config.ENV_JWT_SECRET,
        "MINIO_ROOT_PASSWORD",
    } <= required


def test_every_compose_variable_is_defined_in_env_example_and_used() -> None:
    used: set[str] = set()
    interpolate(yaml.safe_load(COMPOSE.read_text()), _filled_env()[0], used)
    defined = set(_env_example())
    assert used <= defined, f"not in .env.example: {sorted(used - defined)}"
    assert defined <= used, f"unused in docker-compose.yml: {sorted(defined - used)}"


def test_env_example_holds_no_secret_values() -> None:
    for name, value in _env_example().items():
        if SECRET_NAME.search(name) or name in SECRET_ENV:
            assert value == "", f".env.example: {name} must be left empty, not {value!r}"


# --- deploy/config.toml against compose --------------------------------------------------------


def _published(compose: dict[str, Any], service: str) -> dict[int, str]:
    """container port -> host address (short syntax: [host_ip:]host_port:container_port)."""
    ports: dict[int, str] = {}
    for spec in compose["services"][service].get("ports", []):
        if isinstance(spec, dict):
            ports[int(spec["target"])] = str(spec.get("host_ip", "0.0.0.0"))
            continue
        parts = str(spec).split("/")[0].split(":")
        assert len(parts) in (2, 3), f"publish host and container port explicitly: {spec!r}"
        ports[int(parts[-1])] = parts[0] if len(parts) == 3 else "0.0.0.0"
    return ports


def test_deploy_config_ports_match_the_port_mappings(compose: dict[str, Any], cfg: Config) -> None:
    published = _published(compose, "billflow")
    assert set(published) == {cfg.s3.listen.port, cfg.admin.port}
    assert published[cfg.admin.port] == "127.0.0.1", "keep the admin API off tenant networks"
    assert cfg.s3.listen.host == "0.0.0.0" and cfg.admin.host == "0.0.0.0"
    assert cfg.s3.listen.port in _exposed() and cfg.admin.port in _exposed()


def test_minio_s3_port_is_not_published(compose: dict[str, Any]) -> None:
    assert MINIO_API_PORT not in _published(compose, "minio"), "tenants would bypass metering"


def test_deploy_config_points_at_the_compose_services(cfg: Config) -> None:
    upstream = urlsplit(cfg.upstream.endpoint)
    assert (upstream.hostname, upstream.port) == ("minio", MINIO_API_PORT)
    assert cfg.billing.smtp is not None
    assert cfg.billing.smtp.host == "mailpit"
    assert cfg.billing.smtp.port == MAILPIT_SMTP_PORT
    assert cfg.billing.smtp.security == "none"
    assert cfg.billing.finance_emails, "no invoice would be mailed to Mailpit"


def test_deploy_config_holds_no_secret() -> None:
    empty = load(DEPLOY_CONFIG, {})
    assert not empty.upstream.access_key_id and not empty.upstream.secret_access_key


def _billflow_data_dir(compose: dict[str, Any]) -> PurePosixPath:
    targets = [_volume(spec) for spec in compose["services"]["billflow"]["volumes"]]
    data = [(s, t) for s, t in targets if not s.endswith(".toml")]
    assert len(data) == 1, f"expected one data volume, got {data}"
    _assert_persistent(compose, data[0][0])
    return PurePosixPath(data[0][1])


def test_ledger_and_invoices_are_on_the_data_volume(compose: dict[str, Any], cfg: Config) -> None:
    data = _billflow_data_dir(compose)
    for path in (cfg.ledger_path, cfg.billing.invoice_dir):
        assert PurePosixPath(path).is_relative_to(data), f"{path} is not on the volume {data}"


def test_the_mounted_config_is_the_one_billflow_reads(
    compose: dict[str, Any], billflow_env: dict[str, str]
) -> None:
    config_path = billflow_env.get(CONFIG_PATH_ENV) or _image_env()[CONFIG_PATH_ENV]
    for spec in compose["services"]["billflow"].get("volumes", []):
        source, target = _volume(spec)
        if source.endswith(".toml"):
            assert (ROOT / source).resolve() == DEPLOY_CONFIG
            assert target == config_path
    copies = [_copy(i) for i in _instructions("COPY")]
    assert (["deploy/config.toml"], config_path) in copies
    assert _image_env()[CONFIG_PATH_ENV] == config_path


# --- The Dockerfile -----------------------------------------------------------------------------


def _copy(instruction: Instruction) -> tuple[list[str], str]:
    words = [w for w in shlex.split(instruction.args) if not w.startswith("--")]
    return words[:-1], words[-1]


def _exposed() -> set[int]:
    return {int(p.split("/")[0]) for i in _instructions("EXPOSE") for p in i.args.split()}


def test_dockerfile_uses_a_slim_python_base_allowed_by_pyproject() -> None:
    froms = _instructions("FROM")
    assert len(froms) == 1
    match = re.fullmatch(r"python:(\d+)\.(\d+)-slim(-\w+)?", froms[0].args)
    assert match, froms[0].args
    pyproject = (ROOT / "pyproject.toml").read_text()
    lowest = re.search(r'requires-python = ">=(\d+)\.(\d+)"', pyproject)
    assert lowest
    assert (int(match[1]), int(match[2])) >= (int(lowest[1]), int(lowest[2]))


def test_dockerfile_runs_as_a_non_root_user_it_creates() -> None:
    users = _instructions("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}
    created = [c for c in _run_commands() if c[0] == "useradd"]
    assert created, "the image's user is not created in the Dockerfile"
    names = {c[-1] for c in created} | {c[c.index("--uid") + 1] for c in created if "--uid" in c}
    assert user in names
    last_user = max(i.line for i in users)
    assert all(i.line < last_user for i in _instructions("RUN")), "RUN after USER runs unprivileged"


def _pip_installs(commands: list[list[str]]) -> list[list[str]]:
    """The arguments after `-m pip install` of each pip install command."""
    found = []
    for words in commands:
        for i in range(len(words) - 3):
            if words[i : i + 3] == ["-m", "pip", "install"]:
                found.append(words[i + 3 :])
    return found


def _venv_sh_commands() -> list[list[str]]:
    commands = []
    for line in VENV_SH.read_text().splitlines():
        if "-m pip install" in line or "-m venv" in line:
            commands.append(shlex.split(line.split(">&2")[0], comments=True))
    return commands


def test_dockerfile_installs_the_way_scripts_run_does() -> None:
    """scripts/_venv.sh: a venv, pip upgraded, `pip install <options> -e ROOT[extra]`; the image
    takes the same steps with the same options, and installs `.` with no extra."""
    venv_installs = _pip_installs(_venv_sh_commands())
    image_commands = _run_commands()
    image_installs = _pip_installs(image_commands)
    assert any(c[:3] == ["python3", "-m", "venv"] for c in _venv_sh_commands())
    assert any(c[:3] == ["python3", "-m", "venv"] for c in image_commands)
    upgrade = [c for c in venv_installs if "--upgrade" in c]
    assert upgrade and upgrade[0] in image_installs, "pip is not upgraded as scripts/run does"
    (package,) = [c for c in venv_installs if "--upgrade" not in c]
    options = [w for w in package if w.startswith("-") and w != "-e"]
    assert [[*options, "."]] == [c for c in image_installs if "--upgrade" not in c], (
        "the image must `pip install` with scripts/_venv.sh's options, the package `.` only"
    )


def test_dockerfile_says_it_takes_the_steps_scripts_run_takes() -> None:
    assert re.search(r"#.*same steps.*scripts/run", DOCKERFILE.read_text(), re.I)


def test_dockerfile_health_check_hits_healthz_on_the_admin_port(cfg: Config) -> None:
    (check,) = _instructions("HEALTHCHECK")
    assert "CMD" in check.args
    _assert_hits_admin_healthz(_health_url([check.args]), cfg)


def test_dockerfile_bakes_in_no_secret() -> None:
    for keyword in ("ENV", "ARG"):
        for name, value in _env_instructions(keyword).items():
            assert name not in SECRET_ENV, f"{keyword} {name}: secrets come at run time"
            assert not SECRET_NAME.search(name), f"{keyword} {name}={value!r} looks secret"
    copied = {s for i in _instructions("COPY") + _instructions("ADD") for s in _copy(i)[0]}
    assert not any(s == ".env" or s.startswith(".env") for s in copied)


def test_dockerfile_copies_config_and_only_existing_unignored_sources() -> None:
    ignore = _dockerignore()
    sources = [s for i in _instructions("COPY") for s in _copy(i)[0]]
    assert "deploy/config.toml" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not _ignored(ignore, source), f"COPY {source}: excluded by .dockerignore"
    # `pip install .` needs the packages pyproject.toml lists.
    assert {"pyproject.toml", "proxy", "billing"} <= set(sources)


def test_image_has_the_rupee_font_invoices_look_for() -> None:
    installs = [c for c in _run_commands() if c[:2] == ["apt-get", "install"]]
    assert any("fonts-dejavu-core" in c for c in installs)
    # Debian's fonts-dejavu-core puts DejaVu Sans here; it must be one place the renderer looks.
    debian = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    assert debian in [regular for regular, _ in RUPEE_FONT_CANDIDATES]


def test_image_data_directory_is_writable_by_its_user(compose: dict[str, Any]) -> None:
    """A new named volume starts as a copy of the image's directory, owner included."""
    data = str(_billflow_data_dir(compose))
    user = _instructions("USER")[-1].args
    names = {user, user.split(":")[0]}
    created = [c for c in _run_commands() if c[0] == "useradd"]
    names |= {c[-1] for c in created}
    chowns = [c for c in _run_commands() if c[0] == "chown"]
    assert any(data in c and c[c.index(data) - 1].split(":")[0] in names for c in chowns), (
        f"{data} is not chowned to the image's user"
    )


def test_dockerfile_starts_billflow_serve() -> None:
    (entrypoint,) = _instructions("ENTRYPOINT")
    (cmd,) = _instructions("CMD")
    assert yaml.safe_load(entrypoint.args) + yaml.safe_load(cmd.args) == ["billflow", "serve"]


# --- .dockerignore -------------------------------------------------------------------------------


def _dockerignore() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression."""
    out = ""
    i = 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a directory's match covers its files."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern(pattern.lstrip("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_pattern_matching() -> None:
    assert _ignored(["var"], "var/billflow.sqlite3")
    assert not _ignored(["var"], "proxy/var.py")
    assert _ignored(["**/__pycache__"], "proxy/__pycache__/config.cpython-311.pyc")
    assert _ignored(["*.egg-info"], "billflow.egg-info/PKG-INFO")
    assert not _ignored(["tests", "!tests"], "tests/x.py")


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "var/billflow.sqlite3",
        "var/master.key",
        ".git/HEAD",
        ".env",
        ".pytest_cache/v/cache/lastfailed",
        ".mypy_cache/3.11/proxy/config.meta.json",
        ".ruff_cache/CACHEDIR.TAG",
        "proxy/__pycache__/config.cpython-311.pyc",
        "billflow.egg-info/PKG-INFO",
        ".demo-tls.toml",
    ],
)
def test_dockerignore_keeps_local_state_out_of_the_build_context(path: str) -> None:
    assert _ignored(_dockerignore(), path)
