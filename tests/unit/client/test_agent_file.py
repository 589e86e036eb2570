"""agent.toml: parsing, precise errors with line numbers, limits, and agreement with the JSON Schema."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phala_agents.client import agent_file as af
from phala_agents.client.agent_file import (
    MAX_ALLOWLIST,
    MAX_DESCRIPTION_BYTES,
    MAX_MODEL_BYTES,
    MAX_NAME_BYTES,
    MAX_PROMPT_BYTES,
    MAX_TOOLS,
    format_amount,
    load_agent_file,
    parse_agent_toml,
    parse_amount,
)
from phala_agents.errors import AgentDefinitionError

REPO = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((REPO / "chain" / "agent.schema.json").read_text())
EXAMPLES = sorted((REPO / "examples").glob("*/agent.toml"))
ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
SECRET_PROMPT = "You are a pirate; the treasure is under the third palm."

MINIMAL = f'''name = "a"
model = "smollm2"
system_prompt = "{SECRET_PROMPT}"

[prices]
per_1k_input = 1
per_1k_output = "0.002 UNIT"
'''


def parse(text: str) -> af.AgentDefinition:
    return parse_agent_toml(text, filename="agent.toml")


def error_of(text: str, base_dir: Path | None = None) -> AgentDefinitionError:
    with pytest.raises(AgentDefinitionError) as info:
        parse_agent_toml(text, filename="agent.toml", base_dir=base_dir)
    assert SECRET_PROMPT not in str(info.value)
    return info.value


# --- a tiny JSON Schema checker (the subset chain/agent.schema.json uses) ---------------------------


def schema_errors(
    value: object, schema: dict[str, object], root: dict[str, object], path: str = "$"
) -> list[str]:
    if "$ref" in schema:
        ref = str(schema["$ref"])
        assert ref.startswith("#/$defs/")
        return schema_errors(value, root["$defs"][ref.rsplit("/", maxsplit=1)[-1]], root, path)  # type: ignore[index]
    errors: list[str] = []
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }
    if kind is not None and not checks[str(kind)](value):
        return [f"{path}: not {kind}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: not {schema['const']!r}")
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not schema_errors(value, s, root, path)]  # type: ignore[attr-defined]
        if len(matching) != 1:
            errors.append(f"{path}: matches {len(matching)} of oneOf")
    if isinstance(value, dict):
        for key in schema.get("required", []):  # type: ignore[attr-defined]
            if key not in value:
                errors.append(f"{path}: missing {key}")
        props: dict[str, dict[str, object]] = schema.get("properties", {})  # type: ignore[assignment]
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected {key}")
    if isinstance(value, str):
        if len(value) < int(schema.get("minLength", 0)):  # type: ignore[arg-type]
            errors.append(f"{path}: too short")
        if "maxLength" in schema and len(value) > int(schema["maxLength"]):  # type: ignore[arg-type]
            errors.append(f"{path}: too long")
        if "pattern" in schema and not re.search(str(schema["pattern"]), value):
            errors.append(f"{path}: pattern")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:  # type: ignore[operator]
            errors.append(f"{path}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:  # type: ignore[operator]
            errors.append(f"{path}: above maximum")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > int(schema["maxItems"]):  # type: ignore[arg-type]
            errors.append(f"{path}: too many items")
        if schema.get("uniqueItems") and len({json.dumps(v) for v in value}) != len(value):
            errors.append(f"{path}: duplicate items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += schema_errors(item, schema["items"], root, f"{path}[{i}]")  # type: ignore[arg-type]
    return errors


def valid(data: object) -> bool:
    return not schema_errors(data, SCHEMA, SCHEMA)


# --- examples and schema ---------------------------------------------------------------------------------


def test_there_are_two_examples() -> None:
    assert [p.parent.name for p in EXAMPLES] == ["allowlisted", "assistant"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_parse_and_match_schema(path: Path) -> None:
    definition = load_agent_file(path)
    assert definition.source == path
    data = tomllib.loads(path.read_text())
    assert schema_errors(data, SCHEMA, SCHEMA) == []


def test_example_contents() -> None:
    assistant = load_agent_file(REPO / "examples" / "assistant" / "agent.toml")
    assert assistant.access.public
    assert assistant.system_prompt_file == REPO / "examples" / "assistant" / "prompt.md"
    assert assistant.system_prompt == (REPO / "examples" / "assistant" / "prompt.md").read_text()
    assert assistant.prices.per_1k_input == 1_000_000_000
    allow = load_agent_file(REPO / "examples" / "allowlisted" / "agent.toml")
    assert not allow.access.public
    assert allow.access.allow == (ALICE, BOB)
    assert (
        allow.access.allow_account_ids[0].hex()
        == "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
    )
    assert allow.prices.per_1k_input == 500_000_000
    assert allow.generation.temperature == 0.2


def test_schema_and_parser_agree_on_required_fields_and_limits() -> None:
    props = SCHEMA["properties"]
    assert tuple(SCHEMA["required"]) == af.REQUIRED_FIELDS
    assert [o["required"][0] for o in SCHEMA["oneOf"]] == list(af.PROMPT_FIELDS)
    assert tuple(props) == af.TOP_LEVEL_FIELDS
    assert props["name"]["x-max-bytes"] == props["name"]["maxLength"] == MAX_NAME_BYTES
    assert props["description"]["x-max-bytes"] == MAX_DESCRIPTION_BYTES
    assert props["model"]["x-max-bytes"] == MAX_MODEL_BYTES
    assert props["system_prompt"]["x-max-bytes"] == MAX_PROMPT_BYTES
    assert props["access"]["oneOf"][1]["properties"]["allow"]["maxItems"] == MAX_ALLOWLIST
    assert props["tools"]["maxItems"] == MAX_TOOLS
    assert props["tools"]["items"]["maximum"] == af.U64_MAX
    assert tuple(props["generation"]["properties"]) == af.GENERATION_FIELDS
    assert props["generation"]["properties"]["temperature"]["maximum"] == af.MAX_TEMPERATURE
    assert props["generation"]["properties"]["max_tokens"]["maximum"] == af.MAX_MAX_TOKENS
    assert tuple(props["prices"]["properties"]) == af.PRICE_FIELDS
    assert tuple(props["prices"]["required"]) == af.REQUIRED_PRICE_FIELDS
    amount = SCHEMA["$defs"]["amount"]["oneOf"]
    assert amount[0]["maximum"] == af.U128_MAX
    assert f"{{1,{af.TOKEN_DECIMALS}}}" in amount[1]["pattern"]


@pytest.mark.parametrize(
    "text",
    [
        MINIMAL.replace('name = "a"\n', ""),
        MINIMAL.replace('model = "smollm2"\n', ""),
        MINIMAL.replace(f'system_prompt = "{SECRET_PROMPT}"\n', ""),
        MINIMAL.replace('name = "a"', 'name = "a"\nsystem_prompt_file = "p.md"'),
        MINIMAL.replace('name = "a"', 'name = "' + "x" * (MAX_NAME_BYTES + 1) + '"'),
        MINIMAL.replace('name = "a"', 'name = "a"\nbogus = 1'),
        MINIMAL.replace("per_1k_input = 1", 'per_1k_input = "0.0000000000001 UNIT"'),
        MINIMAL.replace("per_1k_input = 1", "per_1k_input = -1"),
        MINIMAL.replace('name = "a"', 'name = "a"\ntools = [1, 1]'),
        MINIMAL.replace('name = "a"', 'name = "a"\naccess = "private"'),
        MINIMAL + "[generation]\ntemperature = 3\n",
    ],
    ids=[
        "no-name",
        "no-model",
        "no-prompt",
        "both-prompts",
        "long-name",
        "unknown",
        "precision",
        "negative",
        "dup-tools",
        "bad-access",
        "temperature",
    ],
)
def test_schema_and_parser_reject_the_same_files(text: str) -> None:
    assert not valid(tomllib.loads(text))
    with pytest.raises(AgentDefinitionError):
        parse(text)


def test_minimal_is_valid_both_ways() -> None:
    assert valid(tomllib.loads(MINIMAL))
    definition = parse(MINIMAL)
    assert definition.description == ""
    assert definition.access == af.Access(public=True)
    assert definition.tools == ()
    assert definition.prices == af.Prices(per_1k_input=1, per_1k_output=2_000_000_000, per_mgas_code=0)
    assert definition.generation == af.GenerationDefaults()


# --- errors: file, line, field, found, wanted ------------------------------------------------------


def test_precision_error_message_and_line() -> None:
    text = MINIMAL.replace('per_1k_output = "0.002 UNIT"', 'per_1k_output = "0.0000000000001 UNIT"')
    err = error_of(text)
    assert (
        str(err)
        == 'agent.toml:7: prices.per_1k_output: found "0.0000000000001 UNIT", wanted at most 12 decimals'
    )
    assert (err.file, err.line, err.field) == ("agent.toml", 7, "prices.per_1k_output")
    assert err.found == '"0.0000000000001 UNIT"'
    assert err.wanted == "at most 12 decimals"


def test_syntax_error_has_line() -> None:
    err = error_of('name = "a"\nmodel = \n')
    assert err.line == 2
    assert str(err).startswith("agent.toml:2: toml: found a syntax error (")


def test_duplicate_key_is_a_syntax_error() -> None:
    err = error_of(MINIMAL.replace('model = "smollm2"', 'name = "b"\nmodel = "smollm2"'))
    assert (err.line, err.field) == (2, "toml")


@pytest.mark.parametrize(
    ("replace", "line", "field", "wanted"),
    [
        (('model = "smollm2"', "model = 7"), 2, "model", "a string"),
        (('model = "smollm2"', 'model = ""'), 2, "model", "a non-empty string"),
        (('name = "a"', 'name = "' + "é" * 33 + '"'), 1, "name", "at most 64 bytes (UTF-8)"),
        (('name = "a"', 'name = "a\\u0007"'), 1, "name", "printable text"),
        (
            ("per_1k_input = 1", "per_1k_input = 0.5"),
            6,
            "prices.per_1k_input",
            'an integer (smallest unit) or a string like "0.5 UNIT"',
        ),
        (("per_1k_input = 1", 'per_1k_input = "1 DOT"'), 6, "prices.per_1k_input", "the unit UNIT"),
        (
            ("per_1k_input = 1", 'per_1k_input = "cheap"'),
            6,
            "prices.per_1k_input",
            'an amount like "0.002 UNIT" or an integer',
        ),
        (
            ("per_1k_input = 1", "per_1k_input = 340282366920938463463374607431768211456"),
            6,
            "prices.per_1k_input",
            "an amount between 0 and 2^128-1 (u128)",
        ),
        (
            ("per_1k_input = 1", "per_1k_inptu = 1"),
            6,
            "prices.per_1k_inptu",
            "one of per_1k_input, per_1k_output, per_mgas_code",
        ),
        (('name = "a"', 'name = "a"\nsystm_prompt = "x"'), 2, "systm_prompt", "one of name, description"),
    ],
    ids=[
        "model-type",
        "model-empty",
        "name-bytes",
        "name-control",
        "float-price",
        "unit",
        "amount-text",
        "u128",
        "price-typo",
        "top-typo",
    ],
)
def test_error_table(replace: tuple[str, str], line: int, field: str, wanted: str) -> None:
    err = error_of(MINIMAL.replace(*replace))
    assert err.line == line, str(err)
    assert err.field == field
    assert err.wanted.startswith(wanted), str(err)
    assert str(err).startswith(f"agent.toml:{line}: {field}: found ")


def test_missing_required_prices_field() -> None:
    err = error_of(MINIMAL.replace("per_1k_input = 1\n", ""))
    assert err.field == "prices.per_1k_input"
    assert err.line == 5  # the [prices] header
    assert err.found == "nothing"


def test_prompt_size_limit_never_shows_the_prompt() -> None:
    big = SECRET_PROMPT + "x" * MAX_PROMPT_BYTES
    err = error_of(MINIMAL.replace(SECRET_PROMPT, big))
    assert err.found == f"{len(big)} bytes"
    assert err.line == 3 and err.field == "system_prompt"
    assert "pirate" not in str(err)
    # Exactly at the limit is fine.
    exact = "y" * MAX_PROMPT_BYTES
    assert parse(MINIMAL.replace(SECRET_PROMPT, exact)).prompt_bytes == MAX_PROMPT_BYTES


def test_multiline_prompt_and_line_numbers_after_it() -> None:
    text = f'''name = "a"
model = "m"
system_prompt = """
{SECRET_PROMPT}
name = "this line is inside the string"
"""
tools = [1, "two"]

[prices]
per_1k_input = 1
per_1k_output = 1
'''
    err = error_of(text)
    assert (err.line, err.field) == (7, "tools[1]")


def test_prompt_file(tmp_path: Path) -> None:
    (tmp_path / "p.md").write_text(SECRET_PROMPT)
    text = MINIMAL.replace(f'system_prompt = "{SECRET_PROMPT}"', 'system_prompt_file = "p.md"')
    (tmp_path / "agent.toml").write_text(text)
    definition = load_agent_file(tmp_path / "agent.toml")
    assert definition.system_prompt == SECRET_PROMPT
    assert definition.system_prompt_file == tmp_path / "p.md"
    assert SECRET_PROMPT not in repr(definition)
    (tmp_path / "p.md").unlink()
    with pytest.raises(AgentDefinitionError) as info:
        load_agent_file(tmp_path / "agent.toml")
    assert info.value.line == 3
    assert 'system_prompt_file: found "p.md" (No such file or directory)' in str(info.value)
    (tmp_path / "p.md").write_bytes(b"\xff\xfe")
    with pytest.raises(AgentDefinitionError, match="invalid UTF-8"):
        load_agent_file(tmp_path / "agent.toml")
    (tmp_path / "p.md").write_text("x" * (MAX_PROMPT_BYTES + 1))
    with pytest.raises(AgentDefinitionError, match=f"found {MAX_PROMPT_BYTES + 1} bytes"):
        load_agent_file(tmp_path / "agent.toml")


def test_both_and_neither_prompt() -> None:
    both = error_of(MINIMAL.replace('name = "a"', 'name = "a"\nsystem_prompt_file = "p.md"'))
    assert both.found == "both" and both.field == "system_prompt_file" and both.line == 2
    neither = error_of(MINIMAL.replace(f'system_prompt = "{SECRET_PROMPT}"\n', ""))
    assert neither.found == "neither"


def test_access_allowlist_errors() -> None:
    def with_access(value: str) -> str:
        return MINIMAL.replace('name = "a"', f'name = "a"\naccess = {value}')

    ok = parse(with_access(f'{{ allow = ["{ALICE}", "{BOB}"] }}'))
    assert ok.access.allow == (ALICE, BOB) and len(ok.access.allow_account_ids) == 2
    bad = ALICE[:-1] + ("Z" if ALICE[-1] != "Z" else "Y")
    err = error_of(with_access(f'{{ allow = ["{ALICE}", "{bad}"] }}'))
    assert (err.line, err.field) == (2, "access.allow[1]")
    assert err.wanted.startswith("a valid SS58 address")
    dup = error_of(with_access(f'{{ allow = ["{ALICE}", "{ALICE}"] }}'))
    assert dup.field == "access.allow[1]" and "duplicate" in dup.wanted
    multi = MINIMAL + f'\n[access]\nallow = [\n  "{ALICE}",\n  "not-an-address",\n]\n'
    err2 = error_of(multi)
    assert (err2.line, err2.field) == (12, "access.allow[1]")
    too_many = error_of(with_access("{ allow = [" + ", ".join([f'"{ALICE}"'] * (MAX_ALLOWLIST + 1)) + "] }"))
    assert too_many.found == f"{MAX_ALLOWLIST + 1} addresses"
    assert error_of(with_access('"private"')).wanted.startswith('"public" or')
    assert error_of(with_access("{ deny = [] }")).field == "access.deny"


def test_tools() -> None:
    def with_tools(value: str) -> str:
        return MINIMAL.replace('name = "a"', f'name = "a"\ntools = {value}')

    assert parse(with_tools("[3, 1, 2]")).tools == (3, 1, 2)
    assert (
        error_of(with_tools("[" + ", ".join(str(i) for i in range(MAX_TOOLS + 1)) + "]")).found
        == "17 agent ids"
    )
    assert error_of(with_tools("[-1]")).field == "tools[0]"
    assert error_of(with_tools("[true]")).field == "tools[0]"
    assert error_of(with_tools("5")).field == "tools"


def test_generation() -> None:
    ok = parse(MINIMAL + "[generation]\ntemperature = 1\nmax_tokens = 100\n")
    assert ok.generation == af.GenerationDefaults(temperature=1.0, max_tokens=100)
    err = error_of(MINIMAL + "[generation]\nmax_tokens = 0\n")
    assert (err.line, err.field) == (9, "generation.max_tokens")
    assert error_of(MINIMAL + "[generation]\ntop_k = 3\n").field == "generation.top_k"
    assert error_of(MINIMAL + "[generation]\ntemperature = -0.1\n").found == "-0.1"


def test_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(AgentDefinitionError, match="No such file"):
        load_agent_file(tmp_path / "nope.toml")
    (tmp_path / "agent.toml").write_bytes(b'name = "a"\nmodel = "\xff"\n')
    with pytest.raises(AgentDefinitionError) as info:
        load_agent_file(tmp_path / "agent.toml")
    assert info.value.line == 2 and info.value.field == "encoding"


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("0.002 UNIT", 2_000_000_000),
        ("1 UNIT", 10**12),
        ("  3.5UNIT ", 3_500_000_000_000),
        ("0.000000000001 UNIT", 1),
        ("0 UNIT", 0),
        ("340282366.920938463463 UNIT", 340282366920938463463),
    ],
)
def test_amounts(text: str, amount: int) -> None:
    assert parse_amount(text) == amount
    assert parse_amount(format_amount(amount)) == amount


@pytest.mark.parametrize(
    "text", ["0.0000000000001 UNIT", "1,5 UNIT", "1e3 UNIT", "١ UNIT", "-1 UNIT", "1 unit", ".5 UNIT"]
)
def test_bad_amounts(text: str) -> None:
    with pytest.raises(AgentDefinitionError):
        parse_amount(text)


def test_format_amount() -> None:
    assert format_amount(2_000_000_000) == "0.002 UNIT"
    assert format_amount(10**12) == "1 UNIT"
    assert format_amount(0) == "0 UNIT"


def test_repr_hides_prompt() -> None:
    assert SECRET_PROMPT not in repr(parse(MINIMAL))


def test_limits_match_the_pallet_spec() -> None:
    spec = REPO / "chain" / "pallets" / "agent_registry.md"
    if not spec.exists():
        pytest.skip("chain/pallets/agent_registry.md not present")
    constants = {
        m.group(1): int(m.group(2).replace("_", ""))
        for m in re.finditer(r"^\| `(\w+)` \| ([0-9_]+)", spec.read_text(), flags=re.MULTILINE)
    }
    assert constants["MaxNameLen"] == MAX_NAME_BYTES
    assert constants["MaxDescriptionLen"] == MAX_DESCRIPTION_BYTES
    assert constants["MaxModelLen"] == MAX_MODEL_BYTES
    assert constants["MaxPromptLen"] == MAX_PROMPT_BYTES
    assert constants["MaxSealedPromptLen"] == MAX_PROMPT_BYTES + 16
    assert constants["MaxTools"] == MAX_TOOLS
    assert constants["MaxAccessEntries"] == MAX_ALLOWLIST


def test_chain_defaults() -> None:
    assert af.GenerationDefaults().temperature_milli == 700
    assert af.GenerationDefaults().max_tokens_or_default == af.DEFAULT_MAX_TOKENS
    assert af.GenerationDefaults(temperature=0.2, max_tokens=9).temperature_milli == 200
    assert af.GenerationDefaults(temperature=2.0).temperature_milli == 2000


def test_prepare_agent_seals_for_id_and_version() -> None:
    from phala_agents.client.sealing import ClusterKey, open_prompt

    key = ClusterKey.generate(epoch=2)
    definition = load_agent_file(REPO / "examples" / "allowlisted" / "agent.toml")
    prepared = af.prepare_agent(definition, cluster_pub=key.public_bytes, epoch=2, agent_id=5, version=1)
    assert open_prompt(prepared.sealed, key, agent_id=5, version=1) == definition.system_prompt
    assert len(prepared.salt) == 32
    assert prepared.commitment == af.prompt_commitment(prepared.salt, definition.system_prompt)
    assert prepared.salt.hex() not in repr(prepared)
    assert definition.system_prompt not in repr(prepared)
    fixed = af.prepare_agent(
        definition, cluster_pub=key.public_bytes, epoch=2, agent_id=5, version=1, salt=b"s"
    )
    assert fixed.commitment == af.prompt_commitment(b"s", definition.system_prompt)

    args = af.register_call_args(prepared)
    assert set(args) == {
        "expected_id",
        "allow",
        "name",
        "description",
        "model",
        "prompt",
        "prompt_commitment",
        "prices",
        "defaults",
        "access",
        "tools",
        "code_hash",
    }
    assert args["name"] == "0x" + b"team-reviewer".hex()
    assert args["access"] == "AllowList"
    assert args["prices"] == {"per_1k_input": 500_000_000, "per_1k_output": 1_000_000_000, "per_mgas_code": 0}
    assert args["defaults"] == {"temperature_milli": 200, "max_tokens": 200}
    assert args["prompt"] == {
        "epoch": 2,
        "enc": "0x" + prepared.sealed.enc.hex(),
        "ciphertext": "0x" + prepared.sealed.ciphertext.hex(),
    }
    assert args["prompt_commitment"] == "0x" + prepared.commitment.hex()
    assert args["code_hash"] is None and args["tools"] == []
    assert args["expected_id"] == 5
    assert args["allow"] == ["0x" + a.hex() for a in definition.access.allow_account_ids]

    update = af.update_call_args(prepared)
    assert update["agent_id"] == 5
    assert "name" not in update and "access" not in update
    public = load_agent_file(REPO / "examples" / "assistant" / "agent.toml")
    prepared_public = af.prepare_agent(public, cluster_pub=key.public_bytes, epoch=2, agent_id=6, version=1)
    assert af.register_call_args(prepared_public)["access"] == "Public"


def test_top_level_key_after_a_table_gets_a_hint() -> None:
    err = error_of(MINIMAL + 'access = "public"\n')
    assert err.field == "prices.access"
    assert "go before the first [table]" in err.wanted


@given(st.integers(min_value=0, max_value=af.U128_MAX))
def test_amount_round_trip_property(amount: int) -> None:
    assert parse_amount(format_amount(amount)) == amount
