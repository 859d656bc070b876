from tests.care.fixtures import db_url, engine, factory, session  # noqa: F401 - fixtures
