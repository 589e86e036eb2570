"""`phala-agent deploy` and `phala-agent agents ...`: the AgentRegistry from the command line.

``deploy AGENT.toml`` checks the file, reads ``Workers.ClusterKey`` and ``NextAgentId``, seals the
prompt for that id (version 1), signs and submits ``register``, follows it to finalized and prints
the agent id and the extrinsic hash. Deploying the same file again by the same owner updates the
agent (found by ``AgentByName(owner, name)``; the ``.phala-agent/<file>.json`` state file next to
the toml records the id and the commitment salt) and reconciles its access list. The prompt,
the salt's use aside, is never printed or logged: ``agents show`` shows the commitment only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, cast

import typer

from phala_agents.cli import _errors, _output
from phala_agents.cli._common import DEFAULT_URL, JsonOpt, QuietOpt, UrlOpt, handle_errors
from phala_agents.cli.keys import KeystoreOpt, PasswordStdinOpt, signer_from_options
from phala_agents.errors import ClientError

if TYPE_CHECKING:
    # The client (substrate-interface, cryptography, the SCALE codec) is imported when a command
    # runs, through the small wrappers below, so the root app and --help do not load it.
    from substrateinterface import Keypair

    from phala_agents.client import ChainClient, ExtrinsicResult, JsonValue, PreparedAgent
    from phala_agents.client.agent_file import AgentDefinition

PALLET = "AgentRegistry"
STATE_DIR = ".phala-agent"
REGISTER_ATTEMPTS = 3

_EXIT_CODES = (
    "Exit codes: 0 ok, 1 failure (bad file, node unreachable, wrong password, rejected, or the "
    "call failed on chain: the error is printed as Pallet::Error), 2 usage."
)

SuriOpt = Annotated[
    str | None,
    typer.Option(
        "--suri",
        help="A development URI such as //Alice (only against a dev chain).",
        show_default=False,
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", help="Sign with this keystore key (name or address).", show_default=False),
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the node.")]
AgentIdArg = Annotated[int, typer.Argument(min=0, help="The agent id.")]
AddressArg = Annotated[
    str, typer.Argument(help="An SS58 address (the account to allow, remove, or give the agent to).")
]

_HINTS = {
    "NotOwner": "only the agent's owner can change it; see its owner with `phala-agent agents show ID`",
    "AgentNotFound": "list agents with `phala-agent agents list`",
    "AgentRetired": "a retired agent is final; deploy a new one",
    "StaleClusterEpoch": "the cluster key rotated; deploy again to reseal the prompt",
    "InsufficientDeposit": "the deposit is reserved from the signer's free balance; fund the account",
    "NameInUse": "the owner already has a live agent of that name",
    "AlreadyGranted": "the account is already on the allowlist",
    "NotGranted": "the account is not on the allowlist",
    "AlreadyPaused": "the agent is already paused",
    "NotPaused": "the agent is not paused",
}


def _connect(url: str, timeout: float) -> ChainClient:
    """Indirection so tests can put a fake client in place."""
    from phala_agents.client import ChainClient

    return ChainClient.connect(url, timeout=timeout)


# --- the client and codec functions, imported on first use -------------------------------------------


def load_agent_file(path: Path) -> AgentDefinition:
    from phala_agents.client import load_agent_file as load

    return load(path)


def prepare_agent(
    definition: AgentDefinition, *, cluster_pub: bytes, epoch: int, agent_id: int, version: int
) -> PreparedAgent:
    from phala_agents.client import prepare_agent as prepare

    return prepare(definition, cluster_pub=cluster_pub, epoch=epoch, agent_id=agent_id, version=version)


def register_call_args(prepared: PreparedAgent) -> dict[str, object]:
    from phala_agents.client import register_call_args as args

    return args(prepared)


def update_call_args(prepared: PreparedAgent) -> dict[str, object]:
    from phala_agents.client import update_call_args as args

    return args(prepared)


def format_amount(amount: int) -> str:
    from phala_agents.client import format_amount as fmt

    return fmt(amount)


def ss58_decode(address: str, prefix: int | None = 42) -> bytes:
    from phala_agents.scale import ss58_decode as decode

    return decode(address, prefix)


def ss58_encode(public_key: bytes, prefix: int = 42) -> str:
    from phala_agents.scale import ss58_encode as encode

    return encode(public_key, prefix)


def register(app: typer.Typer) -> None:
    """Add ``deploy`` and the ``agents`` group to the root app."""
    app.command("deploy", help=_DEPLOY_HELP)(deploy)
    group = typer.Typer(
        name="agents",
        help="List, show and govern agents in the AgentRegistry pallet.",
        no_args_is_help=True,
    )
    group.command("list", help=f"Every agent (or one owner's).\n\n{_EXIT_CODES}")(list_agents)
    group.command("show", help=f"One agent's record (never its prompt).\n\n{_EXIT_CODES}")(show)
    group.command(
        "update",
        help=f"Update agent ID from an agent.toml (version + 1; access as in the file).\n\n{_EXIT_CODES}",
    )(update)
    group.command("pause", help=f"Pause an agent.\n\n{_EXIT_CODES}")(pause)
    group.command("resume", help=f"Resume a paused agent.\n\n{_EXIT_CODES}")(resume)
    group.command("retire", help=f"Retire an agent for good (returns the deposit).\n\n{_EXIT_CODES}")(retire)
    group.command("grant", help=f"Add an account to the allowlist.\n\n{_EXIT_CODES}")(grant)
    group.command("revoke", help=f"Remove an account from the allowlist.\n\n{_EXIT_CODES}")(revoke)
    group.command("transfer", help=f"Give an agent to a new owner.\n\n{_EXIT_CODES}")(transfer)
    app.add_typer(group)


# --- helpers ---------------------------------------------------------------------------------------


def _account(text: str, param: str) -> str:
    try:
        decoded = ss58_decode(text, prefix=None)
    except Exception:
        raise typer.BadParameter(f"found {text!r}, wanted an SS58 address", param_hint=param) from None
    if len(decoded) != 32:
        raise typer.BadParameter(f"found a {len(decoded)}-byte account, wanted 32 bytes", param_hint=param)
    return text


def _submit(
    api: ChainClient,
    call: str,
    params: Mapping[str, object],
    signer: Keypair,
    *,
    progress: bool,
    retry_on: str | None = None,
) -> ExtrinsicResult | None:
    """Sign, submit, follow to finalized. A failed call prints ``Error: Pallet::Error: docs`` and a
    hint and exits 1, except the error named ``retry_on``, for which None is returned."""
    _output.progress(f"{PALLET}.{call}: signing and submitting...", enabled=progress)
    result = api.sign_and_submit(PALLET, call, params, signer, wait_for="finalized")
    _output.progress(f"{PALLET}.{call}: finalized in #{result.block_number}", enabled=progress)
    _output.progress_done(enabled=progress)
    if result.ok:
        return result
    name = (result.error or "").split("::")[-1]
    if retry_on is not None and name == retry_on:
        return None
    docs = f": {result.error_docs}" if result.error_docs else ""
    _output.error(
        f"{result.error}{docs} (extrinsic {result.extrinsic_hash} in block {result.block_hash})",
        _HINTS.get(name, "the call was included but failed; nothing changed but the fee"),
    )
    raise typer.Exit(_errors.EXIT_FAILURE)


def _preflight(api: ChainClient, agent_id: int, signer: Keypair) -> None:
    """The pallet's common guards, checked before signing so that a doomed call sends nothing
    (no fee, no nonce): AgentNotFound, NotOwner, AgentRetired, reported under their chain names."""
    info = api.query(PALLET, "Agents", agent_id, at="best")
    if not isinstance(info, dict):
        _output.error(
            f"{PALLET}::AgentNotFound: no agent {agent_id} on the chain (checked before signing; "
            "nothing was sent)",
            _HINTS["AgentNotFound"],
        )
        raise typer.Exit(_errors.EXIT_FAILURE)
    signer_address = ss58_encode(signer.public_key, prefix=api.ss58_format)
    if info.get("owner") != signer_address:
        _output.error(
            f"{PALLET}::NotOwner: agent {agent_id} belongs to {info.get('owner')}, not {signer_address} "
            "(checked before signing; nothing was sent)",
            _HINTS["NotOwner"],
        )
        raise typer.Exit(_errors.EXIT_FAILURE)
    if info.get("status") == "Retired":
        _output.error(
            f"{PALLET}::AgentRetired: agent {agent_id} is retired (checked before signing; nothing was sent)",
            _HINTS["AgentRetired"],
        )
        raise typer.Exit(_errors.EXIT_FAILURE)


def _must(result: ExtrinsicResult | None) -> ExtrinsicResult:
    if result is None:  # pragma: no cover - only with retry_on
        raise RuntimeError("no result")
    return result


def _cluster_key(api: ChainClient) -> tuple[bytes, int]:
    value = api.query.Workers.ClusterKey.get(at="best")
    if not isinstance(value, dict):
        raise ClientError("Workers.ClusterKey: found none, wanted a cluster key (root sets it)")
    return bytes.fromhex(str(value["public"])[2:]), int(cast(int, value["epoch"]))


def _event_attr(result: ExtrinsicResult, event: str, attr: str) -> JsonValue:
    for e in result.find(PALLET, event):
        if isinstance(e.attributes, dict):
            return e.attributes.get(attr)
    return None


def _agent(api: ChainClient, agent_id: int) -> dict[str, JsonValue]:
    value = api.query(PALLET, "Agents", agent_id, at="best")
    if not isinstance(value, dict):
        _no_such_agent(agent_id)
    return value


def _no_such_agent(agent_id: int) -> NoReturn:
    # The node answered, so ClientError's "is the node running?" hint would mislead.
    _output.error(
        f"agent {agent_id}: found no such agent on the chain, wanted a registered id",
        _HINTS["AgentNotFound"],
    )
    raise typer.Exit(_errors.EXIT_FAILURE)


def _state_path(toml: Path) -> Path:
    return toml.resolve().parent / STATE_DIR / (toml.name + ".json")


def _read_state(toml: Path) -> dict[str, object]:
    try:
        data = json.loads(_state_path(toml).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(toml: Path, record: Mapping[str, object]) -> None:
    """Keep the agent id and the commitment salt next to the toml (mode 0600: the salt is the
    author's proof of the prompt)."""
    path = _state_path(toml)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
        fh.write("\n")
    tmp.replace(path)


def _existing_id(api: ChainClient, owner: str, definition: AgentDefinition, toml: Path) -> int | None:
    """The owner's live agent of this name: AgentByName first; the state file as a cross-check."""
    name_hex = "0x" + definition.name.encode("utf-8").hex()
    found = api.query(PALLET, "AgentByName", owner, name_hex, at="best")
    if isinstance(found, int):
        return found
    state = _read_state(toml)
    agent_id = state.get("agent_id")
    if isinstance(agent_id, int) and state.get("genesis") == api.block_hash(0):
        info = api.query(PALLET, "Agents", agent_id, at="best")
        if isinstance(info, dict) and info.get("owner") == owner and info.get("status") != "Retired":
            return agent_id
    return None


def _reconcile_access(
    api: ChainClient, agent_id: int, definition: AgentDefinition, signer: Keypair, *, progress: bool
) -> None:
    """Make the on-chain access policy and allowlist equal the file's."""
    info = _agent(api, agent_id)
    wanted_policy = "Public" if definition.access.public else "AllowList"
    have = {str(k): True for k, _ in api.query_map(PALLET, "Access", agent_id, at="best")}
    wanted = {ss58_encode(a, prefix=api.ss58_format) for a in definition.access.allow_account_ids}
    current = {ss58_encode(ss58_decode(a, prefix=None), prefix=api.ss58_format) for a in have}
    for who in sorted(wanted - current):
        _must(_submit(api, "grant", {"agent_id": agent_id, "who": who}, signer, progress=progress))
    for who in sorted(current - wanted):
        _must(_submit(api, "revoke", {"agent_id": agent_id, "who": who}, signer, progress=progress))
    if info.get("access") != wanted_policy:
        params = {"agent_id": agent_id, "access": wanted_policy}
        _must(_submit(api, "set_access", params, signer, progress=progress))


def _deploy_update(
    api: ChainClient,
    definition: AgentDefinition,
    agent_id: int,
    signer: Keypair,
    *,
    progress: bool,
) -> tuple[PreparedAgent, ExtrinsicResult]:
    info = _agent(api, agent_id)
    public, epoch = _cluster_key(api)
    version = int(cast(int, info["version"])) + 1
    prepared = prepare_agent(definition, cluster_pub=public, epoch=epoch, agent_id=agent_id, version=version)
    result = _must(_submit(api, "update", update_call_args(prepared), signer, progress=progress))
    return prepared, result


def _deploy_register(
    api: ChainClient, definition: AgentDefinition, signer: Keypair, *, progress: bool
) -> tuple[PreparedAgent, ExtrinsicResult]:
    """Seal for NextAgentId and register; a racing registration (StaleAgentId) means reseal and retry."""
    for attempt in range(1, REGISTER_ATTEMPTS + 1):
        public, epoch = _cluster_key(api)
        next_id = api.query(PALLET, "NextAgentId", at="best")
        if not isinstance(next_id, int):
            raise ClientError(f"{PALLET}.NextAgentId: found {next_id!r}, wanted an integer")
        prepared = prepare_agent(definition, cluster_pub=public, epoch=epoch, agent_id=next_id, version=1)
        last = attempt == REGISTER_ATTEMPTS
        args = register_call_args(prepared)
        result = _submit(
            api, "register", args, signer, progress=progress, retry_on=None if last else "StaleAgentId"
        )
        if result is not None:
            return prepared, result
        _output.info(f"agent id {next_id} was taken meanwhile; resealing (attempt {attempt + 1})")
    raise AssertionError("unreachable")  # pragma: no cover


def _result_json(
    prepared: PreparedAgent, result: ExtrinsicResult, owner: str, action: str
) -> dict[str, object]:
    return {
        "agent_id": prepared.agent_id,
        "version": prepared.version,
        "action": action,
        "owner": owner,
        "extrinsic_hash": result.extrinsic_hash,
        "block_hash": result.block_hash,
        "block_number": result.block_number,
        "prompt_commitment": "0x" + prepared.commitment.hex(),
    }


# --- commands ----------------------------------------------------------------------------------------

_DEPLOY_HELP = (
    "Register (or re-deploy) the agent described by AGENT.toml.\n\n"
    "Validates the file, seals the system prompt to the cluster key (Workers.ClusterKey) for the "
    "next agent id, signs AgentRegistry.register, follows it to finalized and prints the agent id "
    "and extrinsic hash. The same file deployed again by the same owner updates that agent "
    "(version + 1) and reconciles its access list. The commitment salt is kept in "
    f"{STATE_DIR}/ next to the file.\n\n{_EXIT_CODES}"
)


@handle_errors
def deploy(  # noqa: PLR0917 - typer maps each parameter to an option
    agent_toml: Annotated[Path, typer.Argument(help="The agent definition (agent.toml).")],
    url: UrlOpt = DEFAULT_URL,
    suri: SuriOpt = None,
    key: KeyOpt = None,
    keystore: KeystoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    definition = load_agent_file(agent_toml)
    with _connect(url, timeout) as api:
        signer = signer_from_options(api, suri, key, keystore, password_stdin)
        owner = ss58_encode(signer.public_key, prefix=api.ss58_format)
        progress = not json_out
        existing = _existing_id(api, owner, definition, agent_toml)
        if existing is None:
            prepared, result = _deploy_register(api, definition, signer, progress=progress)
            action = "created"
            assigned = _event_attr(result, "Registered", "agent_id")
            if assigned != prepared.agent_id:  # pragma: no cover - expected_id forbids this
                raise ClientError(f"Registered agent_id: found {assigned}, wanted {prepared.agent_id}")
        else:
            prepared, result = _deploy_update(api, definition, existing, signer, progress=progress)
            action = "updated"
        _reconcile_access(api, prepared.agent_id, definition, signer, progress=progress)
        _write_state(
            agent_toml,
            {
                "genesis": api.block_hash(0),
                "agent_id": prepared.agent_id,
                "version": prepared.version,
                "owner": owner,
                "salt": "0x" + prepared.salt.hex(),
                "prompt_commitment": "0x" + prepared.commitment.hex(),
            },
        )
    if json_out:
        _output.emit_json(_result_json(prepared, result, owner, action))
        return
    _output.emit_line(f"agent {prepared.agent_id} {action} (version {prepared.version})")
    _output.emit_line(f"extrinsic {result.extrinsic_hash}")
    _output.emit_line(f"block     {result.block_hash} (#{result.block_number}, finalized)")


@handle_errors
def update(  # noqa: PLR0917 - typer maps each parameter to an option
    agent_id: AgentIdArg,
    agent_toml: Annotated[Path, typer.Argument(help="The agent definition (agent.toml).")],
    url: UrlOpt = DEFAULT_URL,
    suri: SuriOpt = None,
    key: KeyOpt = None,
    keystore: KeystoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    definition = load_agent_file(agent_toml)
    with _connect(url, timeout) as api:
        signer = signer_from_options(api, suri, key, keystore, password_stdin)
        owner = ss58_encode(signer.public_key, prefix=api.ss58_format)
        _preflight(api, agent_id, signer)
        prepared, result = _deploy_update(api, definition, agent_id, signer, progress=not json_out)
        _reconcile_access(api, agent_id, definition, signer, progress=not json_out)
    if json_out:
        _output.emit_json(_result_json(prepared, result, owner, "updated"))
        return
    _output.emit_line(f"agent {agent_id} updated (version {prepared.version})")
    _output.emit_line(f"extrinsic {result.extrinsic_hash}")


def _simple(
    call: str,
    params: dict[str, object],
    *,
    url: str,
    suri: str | None,
    key: str | None,
    keystore: Path | None,
    password_stdin: bool,
    json_out: bool,
    timeout: float,
    done: str,
) -> None:
    with _connect(url, timeout) as api:
        signer = signer_from_options(api, suri, key, keystore, password_stdin)
        _preflight(api, cast(int, params["agent_id"]), signer)
        result = _must(_submit(api, call, params, signer, progress=not json_out))
    if json_out:
        _output.emit_json(
            {
                "call": f"{PALLET}.{call}",
                **{k: v for k, v in params.items()},
                "extrinsic_hash": result.extrinsic_hash,
                "block_hash": result.block_hash,
                "events": [e.to_json() for e in result.events if e.pallet == PALLET],
            }
        )
        return
    _output.emit_line(done)
    _output.emit_line(f"extrinsic {result.extrinsic_hash}")


def _command(call: str, done: str) -> Callable[..., None]:
    @handle_errors
    def command(  # noqa: PLR0917 - typer maps each parameter to an option
        agent_id: AgentIdArg,
        url: UrlOpt = DEFAULT_URL,
        suri: SuriOpt = None,
        key: KeyOpt = None,
        keystore: KeystoreOpt = None,
        password_stdin: PasswordStdinOpt = False,
        json_out: JsonOpt = False,
        timeout: TimeoutOpt = 30.0,
    ) -> None:
        _simple(
            call,
            {"agent_id": agent_id},
            url=url,
            suri=suri,
            key=key,
            keystore=keystore,
            password_stdin=password_stdin,
            json_out=json_out,
            timeout=timeout,
            done=done.format(agent_id=agent_id),
        )

    command.__name__ = call
    return command


pause = _command("pause", "agent {agent_id} paused")
resume = _command("resume", "agent {agent_id} resumed")
retire = _command("retire", "agent {agent_id} retired; its deposit is back in the owner's free balance")


def _account_command(call: str, param: str, done: str) -> Callable[..., None]:
    @handle_errors
    def command(  # noqa: PLR0917 - typer maps each parameter to an option
        agent_id: AgentIdArg,
        address: AddressArg,
        url: UrlOpt = DEFAULT_URL,
        suri: SuriOpt = None,
        key: KeyOpt = None,
        keystore: KeystoreOpt = None,
        password_stdin: PasswordStdinOpt = False,
        json_out: JsonOpt = False,
        timeout: TimeoutOpt = 30.0,
    ) -> None:
        account = _account(address, "ADDRESS")
        _simple(
            call,
            {"agent_id": agent_id, param: account},
            url=url,
            suri=suri,
            key=key,
            keystore=keystore,
            password_stdin=password_stdin,
            json_out=json_out,
            timeout=timeout,
            done=done.format(agent_id=agent_id, address=account),
        )

    command.__name__ = call
    return command


grant = _account_command("grant", "who", "{address} may now call agent {agent_id}")
revoke = _account_command("revoke", "who", "{address} removed from agent {agent_id}")
transfer = _account_command(
    "transfer_ownership",
    "new_owner",
    "agent {agent_id} now belongs to {address}",
)


def _row(agent_id: int, info: Mapping[str, JsonValue]) -> dict[str, object]:
    return {
        "id": agent_id,
        "name": info.get("name"),
        "owner": info.get("owner"),
        "version": info.get("version"),
        "status": info.get("status"),
        "access": info.get("access"),
        "model": info.get("model"),
    }


@handle_errors
def list_agents(
    url: UrlOpt = DEFAULT_URL,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's agents (SS58).")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    rows: list[dict[str, object]] = []
    with _connect(url, timeout) as api:
        at = api.block_hash("best")
        if owner is not None:
            _account(owner, "--owner")
            ids = sorted(int(cast(int, k)) for k, _ in api.query_map(PALLET, "AgentsByOwner", owner, at=at))
            for agent_id in ids:
                info = api.query(PALLET, "Agents", agent_id, at=at)
                if isinstance(info, dict):
                    rows.append(_row(agent_id, info))
        else:
            for k, v in api.query_map(PALLET, "Agents", at=at, page_size=500):
                if isinstance(v, dict):
                    rows.append(_row(int(cast(int, k)), v))
    rows.sort(key=lambda r: cast(int, r["id"]))
    _output.emit_rows(
        rows,
        key="id",
        columns=["id", "name", "owner", "version", "status", "access", "model"],
        json_out=json_out,
        quiet=quiet,
    )


def _price(value: JsonValue) -> dict[str, object]:
    raw = int(cast(int, value))
    return {"raw": raw, "unit": format_amount(raw)}


@handle_errors
def show(
    agent_id: AgentIdArg,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    with _connect(url, timeout) as api:
        at = api.block_hash("best")
        info = api.query(PALLET, "Agents", agent_id, at=at)
        if not isinstance(info, dict):
            _no_such_agent(agent_id)
        allow = sorted(str(k) for k, _ in api.query_map(PALLET, "Access", agent_id, at=at))
    prompt = cast("dict[str, JsonValue]", info.get("prompt") or {})
    ciphertext = str(prompt.get("ciphertext") or "0x")
    prices = cast("dict[str, JsonValue]", info.get("prices") or {})
    record: dict[str, object] = {
        "agent_id": agent_id,
        "owner": info.get("owner"),
        "name": info.get("name"),
        "description": info.get("description"),
        "model": info.get("model"),
        "version": info.get("version"),
        "status": info.get("status"),
        "access": info.get("access"),
        "allow": allow,
        "prompt_commitment": info.get("prompt_commitment"),
        # Only the sealed prompt's size and epoch: its bytes help nobody reading this.
        "sealed_prompt": {"epoch": prompt.get("epoch"), "bytes": max(len(ciphertext) - 2, 0) // 2},
        "prices": {k: _price(v) for k, v in prices.items()},
        "defaults": info.get("defaults"),
        "tools": info.get("tools"),
        "code_hash": info.get("code_hash"),
        "deposit": _price(info.get("deposit", 0)),
        "created_at": info.get("created_at"),
        "updated_at": info.get("updated_at"),
    }
    if json_out:
        _output.emit_json(record)
        return
    prices_record = cast(dict[str, dict[str, object]], record["prices"])
    deposit = cast(dict[str, object], record["deposit"])
    lines = [
        ("agent", f"{agent_id} {record['name']} (version {record['version']}, {record['status']})"),
        ("owner", record["owner"]),
        ("model", record["model"]),
        ("description", record["description"]),
        ("access", f"{record['access']}" + (f": {', '.join(allow)}" if allow else "")),
        ("commitment", record["prompt_commitment"]),
        (
            "sealed",
            f"{cast(dict[str, object], record['sealed_prompt'])['bytes']} bytes, epoch {prompt.get('epoch')}",
        ),
        *[(k, f"{v['unit']} ({v['raw']})") for k, v in prices_record.items()],
        ("defaults", json.dumps(record["defaults"])),
        ("tools", json.dumps(record["tools"])),
        ("deposit", f"{deposit['unit']} ({deposit['raw']})"),
        ("blocks", f"created #{record['created_at']}, updated #{record['updated_at']}"),
    ]
    for label, value in lines:
        _output.emit_line(f"{label + ':':<14}{value}")


__all__ = ["register"]
