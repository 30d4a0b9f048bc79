"""Each script's KEYS/ARGV, as its ``named(...)`` lines declare them, against the typed records
Python builds its calls from (sessionwarden/scripts/calls.py)."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from sessionwarden.scripts import SCRIPTS
from sessionwarden.scripts.calls import CONTRACTS, call

_NAMED = re.compile(r"named\((KEYS|ARGV),((?:\s*'[a-z_]+',?)+)\s*\)")


def declared(script: str) -> dict[str, tuple[str, ...]]:
    source = files("sessionwarden.scripts").joinpath(f"{script}.lua").read_text()
    found = {which: tuple(re.findall(r"'([a-z_]+)'", names))
             for which, names in _NAMED.findall(source)}
    assert set(found) == {"KEYS", "ARGV"}, f"{script}.lua must name its KEYS and ARGV"
    return found


def test_every_script_has_a_contract() -> None:
    assert set(CONTRACTS) == set(SCRIPTS)


@pytest.mark.parametrize("script", sorted(CONTRACTS))
def test_contract_matches_the_script(script: str) -> None:
    keys, args = CONTRACTS[script]
    names = declared(script)
    assert names["KEYS"] == keys._fields
    assert names["ARGV"] == args._fields


@pytest.mark.parametrize("script", sorted(CONTRACTS))
def test_script_reads_arguments_only_by_name(script: str) -> None:
    """No positional ``ARGV[n]`` / ``KEYS[n]`` left to drift out of order."""
    source = files("sessionwarden.scripts").joinpath(f"{script}.lua").read_text()
    assert not re.search(r"(ARGV|KEYS)\[", source)


def test_optional_keys_are_trailing_and_dropped() -> None:
    keys_type, _ = CONTRACTS["list"]
    request = call("list", keys_type("rec"), ("b", "", "u", 100))
    assert request.keys == ("rec",)
    with pytest.raises(ValueError, match="trailing"):
        call("create", ("rec", None, "x"), ())
