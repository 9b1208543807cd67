"""Version rules: SemVer precedence, tags, and --bump from what the catalog holds."""

from __future__ import annotations

import pytest

from toolkit.catalog.versions import Bump, SemVer, next_version, tag_to_version, version_to_tag
from toolkit.errors import InputError


@pytest.mark.parametrize(("existing", "bump", "expected"), [
    (["1.2.3", "1.10.0", "1.9.9"], Bump.PATCH, "1.10.1"),
    (["1.2.3", "1.10.0", "1.9.9"], Bump.MINOR, "1.11.0"),
    (["1.2.3", "1.10.0", "1.9.9"], Bump.MAJOR, "2.0.0"),
    (["1.2.3"], Bump.PRERELEASE, "1.2.4-rc.0"),
    (["1.2.3", "1.2.4-rc.0"], Bump.PRERELEASE, "1.2.4-rc.1"),
    (["1.2.4-rc.1", "1.2.3"], Bump.PATCH, "1.2.4"),
    (["1.3.0-rc.2"], Bump.MINOR, "1.3.0"),
    (["2.0.0-beta"], Bump.MAJOR, "2.0.0"),
    (["2.0.0-beta"], Bump.PRERELEASE, "2.0.0-beta.0"),
    (["1.0.0+build.7"], Bump.PATCH, "1.0.1"),
    ([], Bump.MINOR, "0.4.0"),
    (["not-a-version", "latest"], Bump.PATCH, "0.4.0"),
], ids=["patch-after-max", "minor", "major", "pre-after-release", "pre-counts", "patch-finishes-pre",
        "minor-finishes-pre", "major-finishes-pre", "pre-without-number", "build-ignored", "empty-uses-chart",
        "foreign-tags-ignored"])
def test_next_version_comes_from_the_catalog(existing, bump, expected):
    assert next_version(existing, bump, initial="0.4.0") == expected


@pytest.mark.parametrize(("lower", "higher"), [
    ("1.0.0-alpha", "1.0.0-alpha.1"), ("1.0.0-alpha.1", "1.0.0-alpha.beta"), ("1.0.0-beta.2", "1.0.0-beta.11"),
    ("1.0.0-rc.1", "1.0.0"), ("1.9.0", "1.10.0"), ("0.9.9", "1.0.0"),
], ids=["longer-pre", "numeric-before-alpha", "numeric-order", "pre-before-release", "minor-numeric", "major"])
def test_semver_precedence(lower, higher):
    assert SemVer.parse(lower) < SemVer.parse(higher)
    assert not SemVer.parse(higher) < SemVer.parse(lower)


@pytest.mark.parametrize("text", ["1.2", "01.2.3", "1.2.3-", "1.2.3+", "latest", ""],
                         ids=["two-parts", "leading-zero", "empty-pre", "empty-build", "word", "empty"])
def test_bad_versions_are_refused(text):
    with pytest.raises(InputError, match="not SemVer 2"):
        SemVer.parse(text)


def test_plus_maps_to_underscore_in_tags_and_back():
    assert version_to_tag("1.2.3+build.5") == "1.2.3_build.5"
    assert tag_to_version("1.2.3_build.5") == "1.2.3+build.5"
    assert str(SemVer.parse("1.2.3-rc.1+b")) == "1.2.3-rc.1+b"


@pytest.mark.parametrize("tag", ["1.2.3.deprecated", "latest", "v1.2.3", "sha256-abc"],
                         ids=["marker", "word", "v-prefix", "digest-like"])
def test_tags_that_are_not_versions(tag):
    assert tag_to_version(tag) is None
