import os

import pytest

from clusterlink.store.secrets import KEY_ENV, SecretKeyError, load_box


def test_sealed_secrets_round_trip_and_hide_the_plain_text(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    key = tmp_path / "secret.key"
    box = load_box(key)
    sealed = box.seal({"sasl_password": "hunter2", "ssl_key_pem": ""})
    assert "hunter2" not in sealed
    assert box.open(sealed) == {"sasl_password": "hunter2"}
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert "hunter2" not in repr(box)


def test_a_different_key_cannot_open_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    sealed = load_box(tmp_path / "a.key").seal({"sasl_password": "x"})
    with pytest.raises(SecretKeyError, match="secret key"):
        load_box(tmp_path / "b.key").open(sealed)
