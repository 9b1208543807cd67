"""Binding Secret data over plain data: spec keys, copied credentials, well-known aliases."""

from __future__ import annotations

import base64

import pytest

from toolkit.deploy.binding import binding_data


def enc(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def dec(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


@pytest.mark.parametrize(("credentials", "aliases"), [
    ({"RABBITMQ_USER": "u", "RABBITMQ_PASSWORD": "p", "AMQP_URL": "amqp://x"},
     {"username": "u", "password": "p", "uri": "amqp://x"}),
    ({"username": "own", "db-user": "other", "password": "pw"}, {"username": "own", "password": "pw"}),
    ({"token": "t"}, {}),
], ids=["chat-style", "spec-style-wins", "no-aliases"])
def test_binding_data(credentials, aliases):
    data = dec(binding_data(type_name="chat", host="chat.shop.svc.cluster.local", port=80,
                            credentials={k: enc(v) for k, v in credentials.items()}))
    assert data == {**credentials, **aliases, "type": "chat", "provider": "chartkit",
                    "host": "chat.shop.svc.cluster.local", "port": "80"}


def test_spec_keys_win_over_credentials_and_values_stay_encoded():
    raw = {"host": enc("evil"), "PASSWORD": "c2VjcmV0"}
    data = binding_data(type_name="db", host="db.x.svc.cluster.local", port=5432, credentials=raw)
    assert dec(data)["host"] == "db.x.svc.cluster.local"
    assert data["password"] == data["PASSWORD"] == "c2VjcmV0"  # copied as the API returned it, never decoded
