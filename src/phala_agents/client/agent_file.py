"""Agent definitions: ``agent.toml``, parsed with tomllib into a checked :class:`AgentDefinition`.

Every problem is an :class:`~phala_agents.errors.AgentDefinitionError` whose message reads
``agent.toml:7: prices.per_1k_output: found "0.0000000000001 UNIT", wanted at most 12 decimals``
(file, line, field, found, wanted). tomllib gives the line of a syntax error; for the checks made
here the key's line is found by a small scan of the text (:class:`_KeyLines`).

The size limits are module constants; the AgentRegistry pallet uses the same numbers, and
``chain/agent.schema.json`` describes the file with them (a test keeps all three in step). The
system prompt never appears in an error message or a ``repr``: only its size does.
"""

from __future__ import annotations

import json
import re
import secrets
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from phala_agents.client.sealing import COMMITMENT_SALT_BYTES, SealedBlob, prompt_commitment, seal_prompt
from phala_agents.errors import AgentDefinitionError, ScaleError
from phala_agents.scale import ss58_decode

# --- limits (the pallet's bounds) -----------------------------------------------------------------

MAX_NAME_BYTES = 64
MAX_DESCRIPTION_BYTES = 512
MAX_MODEL_BYTES = 64
MAX_PROMPT_BYTES = 16 * 1024
MAX_ALLOWLIST = 64
MAX_TOOLS = 16
MAX_TEMPERATURE = 2.0
MAX_MAX_TOKENS = 2**32 - 1
DEFAULT_TEMPERATURE = 0.7
"""Used for the on-chain ``Defaults`` when the file has no ``generation.temperature``."""
DEFAULT_MAX_TOKENS = 512
"""Used for the on-chain ``Defaults`` when the file has no ``generation.max_tokens``."""
U64_MAX = 2**64 - 1
U128_MAX = 2**128 - 1

TOKEN_DECIMALS = 12
"""Decimals of the dev chain's token: 1 UNIT = 10**12 of the smallest unit."""
TOKEN_SYMBOL = "UNIT"  # noqa: S105 - a currency symbol
ONE_UNIT = 1_000_000_000_000
"""``10**TOKEN_DECIMALS``: the smallest units in one UNIT."""

REQUIRED_FIELDS = ("name", "model", "prices")
"""Required top-level keys; exactly one of ``system_prompt`` / ``system_prompt_file`` is required too."""
PROMPT_FIELDS = ("system_prompt", "system_prompt_file")
TOP_LEVEL_FIELDS = (
    "name",
    "description",
    "model",
    "system_prompt",
    "system_prompt_file",
    "generation",
    "prices",
    "access",
    "tools",
)
GENERATION_FIELDS = ("temperature", "max_tokens")
PRICE_FIELDS = ("per_1k_input", "per_1k_output", "per_mgas_code")
REQUIRED_PRICE_FIELDS = ("per_1k_input", "per_1k_output")

_AMOUNT_RE = re.compile(r"^\s*([0-9]+)(?:\.([0-9]+))?\s*([A-Za-z]+)\s*$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SYNTAX_POS_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


# --- the parsed form ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationDefaults:
    """Defaults the worker applies when a call does not set them (``None``: not in the file)."""

    temperature: float | None = None
    max_tokens: int | None = None

    @property
    def temperature_milli(self) -> int:
        """The pallet's ``Defaults.temperature_milli`` (0.7 is 700; rounded to milli precision)."""
        value = DEFAULT_TEMPERATURE if self.temperature is None else self.temperature
        return round(value * 1000)

    @property
    def max_tokens_or_default(self) -> int:
        """The pallet's ``Defaults.max_tokens``."""
        return DEFAULT_MAX_TOKENS if self.max_tokens is None else self.max_tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class Prices:
    """Prices in the chain's smallest unit (``10**-12 UNIT``)."""

    per_1k_input: int
    per_1k_output: int
    per_mgas_code: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    """``Public``, or ``AllowList`` of accounts (the SS58 text as written and the 32-byte ids)."""

    public: bool
    allow: tuple[str, ...] = ()
    allow_account_ids: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDefinition:
    """A checked agent definition. ``repr`` leaves the system prompt out."""

    name: str
    description: str
    model: str
    system_prompt: str = field(repr=False)
    system_prompt_file: Path | None
    generation: GenerationDefaults
    prices: Prices
    access: Access
    tools: tuple[int, ...]
    source: Path | None

    @property
    def prompt_bytes(self) -> int:
        return len(self.system_prompt.encode("utf-8"))


# --- line numbers for semantic errors -------------------------------------------------------------

_HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*$")
_BARE_OR_QUOTED = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY_RE = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=(.*)$")
_INLINE_KEY_RE = re.compile(r"[{,]\s*([A-Za-z0-9_-]+)\s*=")


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in text.split("."))


def _strip_comment(line: str) -> str:
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


class _KeyLines:
    """Where each (dotted) key of a TOML text is defined, for error messages."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        self._where: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_multiline: str | None = None
        for number, raw in enumerate(self._lines, start=1):
            if in_multiline:
                if raw.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            line = _strip_comment(raw)
            header = _HEADER_RE.match(line)
            if header:
                table = _split_key(header.group(1))
                self._where.setdefault(table, number)
                continue
            match = _KEY_RE.match(line)
            if not match:
                continue
            path = table + _split_key(match.group(1))
            self._where.setdefault(path, number)
            value = match.group(2)
            if value.lstrip().startswith("{"):
                for inner in _INLINE_KEY_RE.finditer(value):
                    self._where.setdefault((*path, inner.group(1)), number)
            for delimiter in ('"""', "'''"):
                if raw.count(delimiter) % 2 == 1:
                    in_multiline = delimiter

    def line_of(self, path: tuple[str, ...], literal: str | None = None) -> int | None:
        """The line of ``path`` (or its longest known prefix); with ``literal``, the first line at or
        after it that contains that text (an array element)."""
        for end in range(len(path), 0, -1):
            line = self._where.get(path[:end])
            if line is not None:
                if literal is not None:
                    for number in range(line, len(self._lines) + 1):
                        if literal in self._lines[number - 1]:
                            return number
                return line
        return None


# --- the parser ---------------------------------------------------------------------------------------


def _show(value: object) -> str:
    """A short rendering of a found value (strings in double quotes, like the TOML)."""
    if isinstance(value, str):
        text = json.dumps(value if len(value) <= 80 else value[:77] + "...", ensure_ascii=False)
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"an array of {len(value)}"
    return str(value)


class _Checker:
    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.lines = _KeyLines(text)

    def error(
        self, field_path: tuple[str | int, ...], found: str, wanted: str, *, literal: str | None = None
    ) -> AgentDefinitionError:
        keys = tuple(p for p in field_path if isinstance(p, str))
        line = self.lines.line_of(keys, literal) if keys else None
        name = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in field_path).replace(".[", "[")
        where = f"{self.filename}:{line}" if line is not None else self.filename
        return AgentDefinitionError(
            f"{where}: {name}: found {found}, wanted {wanted}",
            file=self.filename,
            line=line,
            field=name,
            found=found,
            wanted=wanted,
        )

    def text(self, path: tuple[str, ...], value: object, *, max_bytes: int, required: bool) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"{type(value).__name__} {_show(value)}", "a string")
        size = len(value.encode("utf-8"))
        if required and not value.strip():
            raise self.error(path, "an empty string", "a non-empty string")
        if size > max_bytes:
            raise self.error(path, f"{size} bytes", f"at most {max_bytes} bytes (UTF-8)")
        if _CONTROL_RE.search(value):
            raise self.error(path, "a control character", "printable text")
        return value

    def unknown_keys(self, path: tuple[str, ...], table: dict[str, object], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                wanted = "one of " + ", ".join(allowed)
                if path and key in TOP_LEVEL_FIELDS:
                    # The classic TOML slip: a top-level key written after a [table] header.
                    wanted += f" (top-level keys such as {key} go before the first [table])"
                raise self.error((*path, key), "an unknown key", wanted)

    def amount(self, path: tuple[str, ...], value: object) -> int:
        if isinstance(value, bool):
            raise self.error(
                path, _show(value), f'an integer (smallest unit) or a string like "0.002 {TOKEN_SYMBOL}"'
            )
        if isinstance(value, int):
            if not 0 <= value <= U128_MAX:
                raise self.error(path, str(value), "an amount between 0 and 2^128-1 (u128)")
            return value
        if isinstance(value, float):
            raise self.error(
                path,
                f"the float {value}",
                f'an integer (smallest unit) or a string like "{value} {TOKEN_SYMBOL}"',
            )
        if not isinstance(value, str):
            raise self.error(path, _show(value), "an amount")
        match = _AMOUNT_RE.match(value)
        if not match:
            raise self.error(path, _show(value), f'an amount like "0.002 {TOKEN_SYMBOL}" or an integer')
        whole, frac, unit = match.group(1), match.group(2) or "", match.group(3)
        if unit != TOKEN_SYMBOL:
            raise self.error(path, _show(value), f"the unit {TOKEN_SYMBOL}")
        if len(frac) > TOKEN_DECIMALS:
            raise self.error(path, _show(value), f"at most {TOKEN_DECIMALS} decimals")
        amount = int(whole) * ONE_UNIT + int(frac.ljust(TOKEN_DECIMALS, "0") or "0")
        if amount > U128_MAX:
            raise self.error(path, _show(value), "an amount that fits a u128")
        return amount


def parse_amount(text: str) -> int:
    """``"0.002 UNIT"`` -> ``2_000_000_000`` (smallest unit); the rules of the prices table."""
    return _Checker("", "amount").amount(("amount",), text)


def format_amount(amount: int) -> str:
    """``2_000_000_000`` -> ``"0.002 UNIT"`` (the inverse of :func:`parse_amount`)."""
    whole, frac = divmod(amount, ONE_UNIT)
    frac_text = str(frac).rjust(TOKEN_DECIMALS, "0").rstrip("0")
    return f"{whole}.{frac_text} {TOKEN_SYMBOL}" if frac_text else f"{whole} {TOKEN_SYMBOL}"


def parse_agent_toml(
    text: str, *, filename: str = "agent.toml", base_dir: Path | None = None
) -> AgentDefinition:
    """Parse and check the text of an ``agent.toml``; ``base_dir`` resolves ``system_prompt_file``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _SYNTAX_POS_RE.search(message)
        line = int(position.group(1)) if position else None
        reason = _SYNTAX_POS_RE.sub("", message)
        where = f"{filename}:{line}" if line is not None else filename
        raise AgentDefinitionError(
            f"{where}: toml: found a syntax error ({reason}), wanted valid TOML",
            file=filename,
            line=line,
            field="toml",
            found=f"a syntax error ({reason})",
            wanted="valid TOML",
        ) from None
    check = _Checker(text, filename)
    check.unknown_keys((), data, TOP_LEVEL_FIELDS)
    for key in REQUIRED_FIELDS:
        if key not in data:
            raise check.error((key,), "nothing", "a value (required)")

    name = check.text(("name",), data["name"], max_bytes=MAX_NAME_BYTES, required=True)
    description = check.text(
        ("description",), data.get("description", ""), max_bytes=MAX_DESCRIPTION_BYTES, required=False
    )
    model = check.text(("model",), data["model"], max_bytes=MAX_MODEL_BYTES, required=True)
    prompt, prompt_file = _prompt(check, data, base_dir)
    generation = _generation(check, data.get("generation", {}))
    prices = _prices(check, data["prices"])
    access = _access(check, data.get("access", "public"))
    tools = _tools(check, data.get("tools", []))
    return AgentDefinition(
        name=name,
        description=description,
        model=model,
        system_prompt=prompt,
        system_prompt_file=prompt_file,
        generation=generation,
        prices=prices,
        access=access,
        tools=tools,
        source=None,
    )


def load_agent_file(path: Path | str) -> AgentDefinition:
    """Read and check an ``agent.toml`` (prompt files are resolved next to it)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AgentDefinitionError(
            f"{path}: file: found {exc.strerror or 'an unreadable file'}, wanted a readable agent.toml",
            file=str(path),
            field="file",
            found=exc.strerror or "an unreadable file",
            wanted="a readable agent.toml",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise AgentDefinitionError(
            f"{path}:{line}: encoding: found invalid UTF-8, wanted UTF-8 text",
            file=str(path),
            line=line,
            field="encoding",
            found="invalid UTF-8",
            wanted="UTF-8 text",
        ) from None
    definition = parse_agent_toml(text, filename=str(path), base_dir=path.parent)
    return replace(definition, source=path)


def _prompt(check: _Checker, data: dict[str, object], base_dir: Path | None) -> tuple[str, Path | None]:
    present = [key for key in PROMPT_FIELDS if key in data]
    if len(present) != 1:
        found = "both" if present else "neither"
        raise check.error(
            (present[-1] if present else "system_prompt",),
            found,
            "exactly one of system_prompt (inline) or system_prompt_file (a path next to the toml)",
        )
    if present[0] == "system_prompt":
        value = data["system_prompt"]
        if not isinstance(value, str):
            raise check.error(("system_prompt",), type(value).__name__, "a string")
        return _prompt_text(check, ("system_prompt",), value), None
    value = data["system_prompt_file"]
    path_key = ("system_prompt_file",)
    if not isinstance(value, str) or not value.strip():
        raise check.error(path_key, _show(value), "a relative path to a UTF-8 text file")
    path = Path(value)
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise check.error(
            path_key, f"{_show(value)} ({exc.strerror})", "a readable file next to the toml"
        ) from None
    if len(raw) > MAX_PROMPT_BYTES:
        raise check.error(path_key, f"{len(raw)} bytes", f"at most {MAX_PROMPT_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise check.error(path_key, f"{_show(value)} (invalid UTF-8)", "a UTF-8 text file") from None
    return _prompt_text(check, path_key, text), path


def _prompt_text(check: _Checker, path: tuple[str, ...], text: str) -> str:
    size = len(text.encode("utf-8"))
    if not text.strip():
        raise check.error(path, "an empty prompt", "a non-empty system prompt")
    if size > MAX_PROMPT_BYTES:
        raise check.error(path, f"{size} bytes", f"at most {MAX_PROMPT_BYTES} bytes (UTF-8)")
    return text


def _generation(check: _Checker, value: object) -> GenerationDefaults:
    if not isinstance(value, dict):
        raise check.error(("generation",), _show(value), "a table with temperature and/or max_tokens")
    check.unknown_keys(("generation",), value, GENERATION_FIELDS)
    temperature = value.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise check.error(
                ("generation", "temperature"), _show(temperature), f"a number from 0 to {MAX_TEMPERATURE}"
            )
        if not 0 <= temperature <= MAX_TEMPERATURE:
            raise check.error(
                ("generation", "temperature"), str(temperature), f"a number from 0 to {MAX_TEMPERATURE}"
            )
        temperature = float(temperature)
    max_tokens = value.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= MAX_MAX_TOKENS
    ):
        raise check.error(
            ("generation", "max_tokens"), _show(max_tokens), f"an integer from 1 to {MAX_MAX_TOKENS}"
        )
    return GenerationDefaults(temperature=temperature, max_tokens=max_tokens)


def _prices(check: _Checker, value: object) -> Prices:
    if not isinstance(value, dict):
        raise check.error(("prices",), _show(value), "a table with per_1k_input and per_1k_output")
    check.unknown_keys(("prices",), value, PRICE_FIELDS)
    for key in REQUIRED_PRICE_FIELDS:
        if key not in value:
            raise check.error(
                ("prices", key), "nothing", f'an amount (required), e.g. "0.002 {TOKEN_SYMBOL}"'
            )
    return Prices(
        per_1k_input=check.amount(("prices", "per_1k_input"), value["per_1k_input"]),
        per_1k_output=check.amount(("prices", "per_1k_output"), value["per_1k_output"]),
        per_mgas_code=check.amount(("prices", "per_mgas_code"), value.get("per_mgas_code", 0)),
    )


def _access(check: _Checker, value: object) -> Access:
    wanted = '"public" or { allow = ["<SS58 address>", ...] }'
    if value == "public":
        return Access(public=True)
    if not isinstance(value, dict):
        raise check.error(("access",), _show(value), wanted)
    check.unknown_keys(("access",), value, ("allow",))
    allow = value.get("allow")
    if not isinstance(allow, list):
        raise check.error(
            ("access", "allow"),
            _show(allow) if allow is not None else "nothing",
            "an array of SS58 addresses",
        )
    if len(allow) > MAX_ALLOWLIST:
        raise check.error(("access", "allow"), f"{len(allow)} addresses", f"at most {MAX_ALLOWLIST}")
    ids: list[bytes] = []
    for index, address in enumerate(allow):
        path: tuple[str | int, ...] = ("access", "allow", index)
        if not isinstance(address, str):
            raise check.error(path, _show(address), "an SS58 address string")
        account = _account_id(address)
        if account is None:
            raise check.error(
                path, _show(address), "a valid SS58 address (checksum, 32-byte account)", literal=address
            )
        if account in ids:
            raise check.error(path, _show(address), "each account once (a duplicate)", literal=address)
        ids.append(account)
    return Access(public=False, allow=tuple(allow), allow_account_ids=tuple(ids))


def _account_id(address: str) -> bytes | None:
    try:
        decoded = ss58_decode(address, prefix=None)
    except (ScaleError, ValueError):
        return None
    return decoded if len(decoded) == 32 else None


def _tools(check: _Checker, value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise check.error(("tools",), _show(value), "an array of agent ids (integers)")
    if len(value) > MAX_TOOLS:
        raise check.error(("tools",), f"{len(value)} agent ids", f"at most {MAX_TOOLS}")
    out: list[int] = []
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= U64_MAX:
            raise check.error(("tools", index), _show(item), "an agent id (u64)")
        if item in out:
            raise check.error(("tools", index), str(item), "each agent id once (a duplicate)")
        out.append(item)
    return tuple(out)


# --- ready for the chain ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedAgent:
    """A definition sealed for one ``(agent_id, version)``; keep ``salt`` to prove the prompt later."""

    definition: AgentDefinition
    agent_id: int
    version: int
    sealed: SealedBlob
    commitment: bytes
    salt: bytes = field(repr=False)


def prepare_agent(
    definition: AgentDefinition,
    *,
    cluster_pub: bytes,
    epoch: int,
    agent_id: int,
    version: int,
    salt: bytes | None = None,
) -> PreparedAgent:
    """Seal the prompt for ``(agent_id, version)`` and commit to it with a fresh (or given) salt."""
    salt = secrets.token_bytes(COMMITMENT_SALT_BYTES) if salt is None else bytes(salt)
    return PreparedAgent(
        definition=definition,
        agent_id=agent_id,
        version=version,
        sealed=seal_prompt(
            definition.system_prompt, cluster_pub, agent_id=agent_id, version=version, epoch=epoch
        ),
        commitment=prompt_commitment(salt, definition.system_prompt),
        salt=salt,
    )


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _common_args(prepared: PreparedAgent) -> dict[str, object]:
    d = prepared.definition
    return {
        "description": _hex(d.description.encode("utf-8")),
        "model": _hex(d.model.encode("utf-8")),
        "prompt": {
            "epoch": prepared.sealed.epoch,
            "enc": _hex(prepared.sealed.enc),
            "ciphertext": _hex(prepared.sealed.ciphertext),
        },
        "prompt_commitment": _hex(prepared.commitment),
        "prices": {
            "per_1k_input": d.prices.per_1k_input,
            "per_1k_output": d.prices.per_1k_output,
            "per_mgas_code": d.prices.per_mgas_code,
        },
        "defaults": {
            "temperature_milli": d.generation.temperature_milli,
            "max_tokens": d.generation.max_tokens_or_default,
        },
        "tools": list(d.tools),
        "code_hash": None,
    }


def register_call_args(prepared: PreparedAgent) -> dict[str, object]:
    """``AgentRegistry.register`` arguments (chain/pallets/agent_registry.md), as substrate-interface
    ``compose_call`` takes them: byte strings as 0x-hex so a name like "0x1" stays text.

    ``expected_id`` is the id the prompt was sealed for (``prepared.agent_id``; it must equal the
    chain's ``NextAgentId`` or the call fails with ``StaleAgentId``), and ``allow`` the initial
    allowlist (:attr:`Access.allow_account_ids`), granted by the same call.
    """
    d = prepared.definition
    return {
        "expected_id": prepared.agent_id,
        "name": _hex(d.name.encode("utf-8")),
        **_common_args(prepared),
        "access": "Public" if d.access.public else "AllowList",
        "allow": [_hex(account) for account in d.access.allow_account_ids],
    }


def update_call_args(prepared: PreparedAgent) -> dict[str, object]:
    """``AgentRegistry.update`` arguments; ``prepared`` must be sealed for the new version."""
    return {"agent_id": prepared.agent_id, **_common_args(prepared)}
