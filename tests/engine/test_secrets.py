"""Secret config values never show: not in logs, descriptions, results or errors."""

from __future__ import annotations

import io
import logging
import pickle

import pytest

from adminflow import AdminFlow, ConsoleObserver, FlowConfigError, LoggingObserver, Secret

from .helpers import Recorder, make_storer, propagate_step, record_step, update_step

pytestmark = pytest.mark.timeout(30)

TOKEN = "ghp_s3cr3t-T0KEN-value"
SECRET_TYPES = [("token", Secret, "the GitHub token"), ("org", str, "the GitHub org")]


def test_a_secret_shows_a_mask_and_reveals_only_on_request():
    secret = Secret(TOKEN)

    assert secret.reveal() == TOKEN
    assert TOKEN not in str(secret)
    assert TOKEN not in repr(secret)
    assert TOKEN not in f"{secret} {secret!r}"
    assert secret == Secret(TOKEN)
    assert secret != TOKEN
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        Secret(123)


def test_a_secret_reaches_the_step_wrapped(flow):
    seen = []
    flow.add_update_step(
        "s", update_step(lambda call: seen.append(call.step.configs), config_types=SECRET_TYPES)
    )
    flow.config({"s": {"token": TOKEN, "org": "cs101"}})
    flow.run()

    (configs,) = seen
    assert isinstance(configs.token, Secret)
    assert configs.token.reveal() == TOKEN
    assert TOKEN not in repr(configs)


def test_a_secret_default_is_not_shown_by_describe_or_emit_config(flow):
    flow.add_update_step("s", update_step(config_types=[("token", Secret, "the token", TOKEN)]))

    assert TOKEN not in repr(flow.describe_config())
    assert TOKEN not in flow.emit_config()


def test_a_secret_never_appears_in_config_errors(flow):
    def refuse(step):
        raise ValueError(f"token {step.configs.token.reveal()} was revoked")

    flow.add_update_step("s", update_step(config_types=SECRET_TYPES, validate=refuse))
    flow.add_update_step("t", update_step(config_types=SECRET_TYPES))

    with pytest.raises(FlowConfigError) as caught:
        flow.config({"s": {"token": TOKEN, "org": "a"}, "t": {"token": TOKEN, "org": 5}})

    text = str(caught.value) + repr([str(p) for p in caught.value.problems])
    assert "was revoked" in text
    assert "t.org" in text
    assert TOKEN not in text


def test_a_secret_never_appears_in_logs_results_or_observer_output(caplog):
    caplog.set_level(logging.DEBUG, logger="adminflow")
    storer = make_storer([1], config_types=[("password", Secret, "db password")])
    flow = AdminFlow("f", "d", storer, "db")

    def leak_in_logs(call):
        call.logger(f"using {call.step.configs.token.reveal()}")
        call.logger.warning(f"token={call.step.configs.token.reveal()}")

    def leak_in_error(call):
        raise RuntimeError(f"401 for {call.step.configs.token.reveal()}")

    flow.add_record_step("r", record_step(leak_in_logs, config_types=SECRET_TYPES))
    flow.add_update_step("u", update_step(leak_in_error, config_types=SECRET_TYPES))
    flow.add_propagate_step("p", propagate_step(config_types=SECRET_TYPES))
    section = {"token": TOKEN, "org": "cs101"}
    flow.config({"db": {"password": "hunter2-db"}, "r": section, "u": section, "p": section})
    recorder, console = Recorder(), io.StringIO()

    result = flow.run(observers=[recorder, ConsoleObserver(console), LoggingObserver()])

    assert "401 for" in result.steps["u"].error
    everything = "\n".join(
        [
            repr(recorder.events),
            console.getvalue(),
            caplog.text,
            repr(result),
            result.steps["u"].traceback,
        ]
    )
    assert TOKEN not in everything
    assert "hunter2-db" not in everything


def test_a_secret_never_appears_when_the_storer_fails():
    storer = make_storer(config_types=[("password", Secret, "db password")])
    storer.box.load_error = ConnectionError("login failed for password hunter2-db")
    flow = AdminFlow("f", "d", storer, "db")
    flow.config({"db": {"password": "hunter2-db"}})

    result = flow.run()

    assert "login failed" in result.error
    assert "hunter2-db" not in result.error
    assert "hunter2-db" not in result.traceback


def test_the_config_snapshot_masks_secrets(flow):
    flow.add_update_step("s", update_step(config_types=SECRET_TYPES))

    configured = flow.with_config({"s": {"token": TOKEN, "org": "cs101"}})

    assert configured.snapshot["s"]["org"] == "cs101"
    assert TOKEN not in repr(configured.snapshot)
