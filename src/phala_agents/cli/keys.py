"""`phala-agent keys`: an encrypted keystore in the polkadot.js JSON format.

Passwords come from ``--password-stdin``, the ``PHALA_AGENT_KEY_PASSWORD`` variable, or a hidden
prompt on a TTY; off a TTY nothing prompts. A mnemonic is printed once, only with
``--show-mnemonic`` and only to a terminal. No secret is ever logged.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO, cast

import typer

from phala_agents.cli import _errors, _output
from phala_agents.cli._common import JsonOpt, QuietOpt, handle_errors
from phala_agents.errors import KeystoreError

if TYPE_CHECKING:
    # The keystore (substrate-interface, cryptography) is imported inside the commands, so
    # the root app and --help do not pay for it.
    from substrateinterface import Keypair

    from phala_agents.client import ChainClient
    from phala_agents.client.keystore import KeyInfo

# The same names as phala_agents.client.keystore's (a test keeps them equal); repeated here
# because the option declarations below are built when the root app is.
KEYSTORE_ENV = "PHALA_AGENT_KEYSTORE"
PASSWORD_ENV = "PHALA_AGENT_KEY_PASSWORD"  # noqa: S105 - a variable name, not a password

KeystoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        envvar=KEYSTORE_ENV,
        help="Keystore directory (default ~/.local/share/phala-agents/keys).",
        show_default=False,
    ),
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help=f"Read the key password from stdin (else ${PASSWORD_ENV}, else a prompt on a TTY).",
    ),
]

keys_app = typer.Typer(
    name="keys",
    help="Create, import and list signing keys (sr25519, polkadot.js JSON keystore).",
    no_args_is_help=True,
)


class _UsageProblem(Exception):
    """A missing input the user must supply (exit 2)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def _read_line(stream: TextIO, what: str) -> str:
    line = stream.readline()
    if not line:
        raise _UsageProblem(
            f"{what}: found end of input on stdin, wanted one line", f"pipe the {what} on stdin"
        )
    return line.rstrip("\r\n")


def read_password(*, password_stdin: bool, confirm: bool, stdin: TextIO | None = None) -> str:
    """The key password from stdin (one line), ``$PHALA_AGENT_KEY_PASSWORD`` or a TTY prompt."""
    if password_stdin:
        return _read_line(stdin or sys.stdin, "password")
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if _stdin_is_tty():
        value: str = typer.prompt("Key password", hide_input=True, confirmation_prompt=confirm, err=True)
        return value
    raise _UsageProblem(
        f"password: found no terminal to prompt on, wanted --password-stdin or the {PASSWORD_ENV} variable",
        f'echo "$PASSWORD" | phala-agent keys ... --password-stdin, or export {PASSWORD_ENV}',
    )


def signer_from_options(
    api: ChainClient, suri: str | None, key: str | None, keystore: Path | None, password_stdin: bool
) -> Keypair:
    """The signer of a command that takes ``--suri`` (a dev URI) or ``--key`` (a keystore key),
    exactly one of them, for the chain ``api`` is connected to."""
    if (suri is None) == (key is None):
        raise typer.BadParameter("give exactly one of --suri (dev URI) or --key (keystore key)")
    if suri is not None and not suri.startswith("/"):
        raise typer.BadParameter(
            "found something that is not a dev URI; import secrets with `phala-agent keys import` "
            "and use --key",
            param_hint="--suri",
        )
    return load_signer(
        cast(str, suri if suri is not None else key),
        keystore=keystore,
        password_stdin=password_stdin,
        dev_chain=api.is_dev_chain,
        ss58_format=api.ss58_format,
    )


def load_signer(
    signer: str,
    *,
    keystore: Path | None,
    password_stdin: bool,
    dev_chain: bool,
    ss58_format: int = 42,
) -> Keypair:
    """For commands that sign (deploy, agents ...): a dev URI on a dev chain, else a keystore key."""
    from phala_agents.client.keystore import Keystore, resolve_signer

    store = Keystore(keystore, ss58_format=ss58_format)
    if signer.startswith("/"):
        return resolve_signer(signer, keystore=store, dev_chain=dev_chain, ss58_format=ss58_format)
    store.get(signer)  # an unknown name fails before asking for a password
    password = read_password(password_stdin=password_stdin, confirm=False)
    return resolve_signer(
        signer, keystore=store, password=password, dev_chain=dev_chain, ss58_format=ss58_format
    )


def _fail_usage(problem: _UsageProblem) -> typer.Exit:
    _output.error(str(problem), problem.hint)
    return typer.Exit(_errors.EXIT_USAGE)


def _created(info: KeyInfo) -> str:
    return info.created.isoformat(timespec="seconds") if isinstance(info.created, datetime) else ""


def _as_json(info: KeyInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "address": info.address,
        "public_key": "0x" + info.public_key.hex(),
        "crypto_type": info.crypto_type,
        "created": _created(info) or None,
        "path": str(info.path),
    }


def _emit_info(info: KeyInfo, *, json_out: bool) -> None:
    if json_out:
        _output.emit_json(_as_json(info))
    else:
        _output.emit_line(info.address)


@keys_app.command("new")
@handle_errors
def new(
    name: Annotated[str, typer.Argument(help="Key name (letters, digits, '.', '_', '-').")],
    *,
    keystore: KeystoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    show_mnemonic: Annotated[
        bool,
        typer.Option("--show-mnemonic", help="Print the new mnemonic once (only to a terminal)."),
    ] = False,
    words: Annotated[int, typer.Option("--words", help="Mnemonic length: 12, 15, 18, 21 or 24.")] = 12,
    json_out: JsonOpt = False,
) -> None:
    """Generate a key and store it encrypted; prints its address.

    Exit codes: 0 ok, 1 failure, 2 usage (no password source, or --show-mnemonic off a terminal).
    """
    from phala_agents.client.keystore import Keystore

    try:
        if show_mnemonic and (json_out or not _stdout_is_tty()):
            raise _UsageProblem(
                "--show-mnemonic: found output that is not a terminal, wanted a terminal",
                "a mnemonic is never written to pipes or files; rerun in a terminal",
            )
        password = read_password(password_stdin=password_stdin, confirm=True)
    except _UsageProblem as problem:
        raise _fail_usage(problem) from None
    created = Keystore(keystore).new(name, password, words=words)
    _emit_info(created.info, json_out=json_out)
    if show_mnemonic:
        _output.emit_line(f"mnemonic (shown once, write it down): {created.mnemonic.reveal()}")
    else:
        _output.info(f"created key {name} in {created.info.path.parent} (mnemonic not shown)")


@keys_app.command("import")
@handle_errors
def import_(
    name: Annotated[str, typer.Argument(help="Name for the imported key.")],
    *,
    mnemonic_stdin: Annotated[
        bool,
        typer.Option(
            "--mnemonic-stdin", help="Read a mnemonic (optionally with //hard/soft path) from stdin."
        ),
    ] = False,
    seed_stdin: Annotated[
        bool, typer.Option("--seed-stdin", help="Read a 0x-prefixed 32-byte raw seed from stdin.")
    ] = False,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json-file",
            help="A polkadot.js JSON key file (keeps its own password).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    keystore: KeystoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Import a key from a mnemonic, a raw seed or a polkadot.js JSON file.

    With --mnemonic-stdin (or --seed-stdin) and --password-stdin, stdin holds two lines: the
    secret, then the password. A JSON file keeps its password (the one it was exported with).

    Exit codes: 0 ok, 1 failure (bad secret, wrong password), 2 usage.
    """
    from phala_agents.client.keystore import Keystore

    sources = [mnemonic_stdin, seed_stdin, json_file is not None]
    try:
        if sum(sources) != 1:
            raise _UsageProblem(
                "source: found " + ("none" if not any(sources) else "several") + ", wanted exactly one",
                "pass one of --mnemonic-stdin, --seed-stdin or --json-file FILE",
            )
        store = Keystore(keystore)
        if json_file is not None:
            document = json_file.read_text(encoding="utf-8")
            password = read_password(password_stdin=password_stdin, confirm=False)
            info = store.import_json(name, document, password)
        else:
            what = "mnemonic" if mnemonic_stdin else "seed"
            secret = _read_line(sys.stdin, what)
            password = read_password(password_stdin=password_stdin, confirm=True)
            if mnemonic_stdin:
                info = store.import_mnemonic(name, secret, password)
            else:
                info = store.import_seed(name, _parse_seed(secret), password)
    except _UsageProblem as problem:
        raise _fail_usage(problem) from None
    _emit_info(info, json_out=json_out)
    _output.info(f"imported key {name} into {info.path.parent}")


def _parse_seed(text: str) -> bytes:
    value = text.strip()
    if not value.startswith("0x"):
        raise KeystoreError("seed: found text without a 0x prefix, wanted 0x and 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise KeystoreError("seed: found non-hex text, wanted 0x and 64 hex digits") from None


@keys_app.command("list")
@handle_errors
def list_(keystore: KeystoreOpt = None, json_out: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """List keys: name, address, type, created (never a secret)."""
    from phala_agents.client.keystore import Keystore

    entries = Keystore(keystore).list()
    if json_out:
        _output.emit_json([_as_json(e) for e in entries])
    elif quiet:
        for entry in entries:
            _output.emit_line(entry.name)
    elif not entries:
        _output.info(
            f"no keys in {Keystore(keystore).directory}; create one with `phala-agent keys new NAME`"
        )
    else:
        rows = [
            {"name": e.name, "address": e.address, "type": e.crypto_type, "created": _created(e)}
            for e in entries
        ]
        _output.emit_table(rows, ["name", "address", "type", "created"])


@keys_app.command("show")
@handle_errors
def show(
    name: Annotated[str, typer.Argument(help="Key name or address.")],
    keystore: KeystoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a key's address and public key (no password needed, no secret shown)."""
    from phala_agents.client.keystore import Keystore

    info = Keystore(keystore).get(name)
    if json_out:
        _output.emit_json(_as_json(info))
        return
    _output.emit_line(f"name:       {info.name}")
    _output.emit_line(f"address:    {info.address}")
    _output.emit_line(f"public_key: 0x{info.public_key.hex()}")
    _output.emit_line(f"type:       {info.crypto_type}")
    _output.emit_line(f"created:    {_created(info)}")


@keys_app.command("export")
@handle_errors
def export(
    name: Annotated[str, typer.Argument(help="Key name or address.")],
    keystore: KeystoreOpt = None,
) -> None:
    """Print the key's encrypted polkadot.js JSON file (import it in a wallet with its password)."""
    from phala_agents.client.keystore import Keystore

    _output.emit_json(Keystore(keystore).export_json(name))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(keys_app, name="keys")
