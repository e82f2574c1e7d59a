"""Shared test set-up. Fixture families live in tests/fixtures/, one module each."""

pytest_plugins = [
    "tests.fixtures.catalog",
    "tests.fixtures.camsim",
    "tests.fixtures.s3",
    "tests.fixtures.fleet",
    "tests.fixtures.awscalls",
]
