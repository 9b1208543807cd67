"""Values migrations (pure): rename keeps the setting, set fills only what is absent, remove drops; by version."""

from __future__ import annotations

from toolkit.catalog.declarations import parse_declarations
from toolkit.deploy.migrate import migrate_values

DECL = parse_declarations({
    "apiVersion": "chartkit.dev/v1", "kind": "TypeDeclarations",
    "migrations": [
        {"from": "<2.0.0", "rename": {"chat.size": "chat.resources.preset", "chat.old.flag": "chat.flag"},
         "set": {"chat.tier": "standard"}, "remove": ["chat.legacy"]},
        {"from": "^0", "rename": {"name": "chat.name"}},
    ]}, "test")


def test_a_rename_moves_the_instance_setting_and_leaves_no_empty_map():
    out = migrate_values({"chat": {"size": "large", "old": {"flag": True}, "legacy": 1, "replicaCount": 3}}, "1.4.0",
                         DECL)
    assert out.values == {"chat": {"resources": {"preset": "large"}, "flag": True, "replicaCount": 3,
                                   "tier": "standard"}}
    assert [s.line() for s in out.steps] == [
        "renamed chat.size -> chat.resources.preset (kept 'large')", "renamed chat.old.flag -> chat.flag (kept True)",
        "set chat.tier = 'standard'", "removed chat.legacy (was 1)"]


def test_set_never_overrides_and_missing_paths_are_no_steps():
    out = migrate_values({"chat": {"tier": "gold"}}, "1.0.0", DECL)
    assert out.values == {"chat": {"tier": "gold"}} and out.steps == ()


def test_migrations_for_other_versions_do_not_apply():
    values = {"chat": {"size": "large"}, "name": "x"}
    assert migrate_values(values, "2.1.0", DECL).values == values
    assert migrate_values(values, "0.9.0", DECL).values["chat"] == {"resources": {"preset": "large"}, "name": "x",
                                                                       "tier": "standard"}


def test_the_input_is_not_changed():
    values = {"chat": {"size": "large"}}
    migrate_values(values, "1.0.0", DECL)
    assert values == {"chat": {"size": "large"}}
