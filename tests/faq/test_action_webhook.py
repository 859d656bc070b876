"""``action_answer_faq`` through the rasa-sdk action server webhook with tracker fixtures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sqlalchemy.orm import Session, sessionmaker

import actions.faq as faq_action
from core.db import session_scope
from crm.knowledge import save_calibration, upsert_points
from faq.io import read_knowledge_file
from faq.service import FaqService
from tests.actions.responses import rendered, response_text

# sanic-testing (the test client rasa-sdk's own tests use) still imports websockets.legacy.
# The payload carries the real Rasa version (3.6.21); rasa-sdk 3.21 warns about the pairing.
pytestmark = [
    pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Your versions of rasa and rasa_sdk might not be compatible"),
]


def tracker(text: str, intent: str = "faq", entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "next_action": "action_answer_faq",
        "sender_id": "test-user",
        "version": "3.6.21",
        "domain": {
            "intents": ["faq", "choose_faq"],
            "entities": ["faq_id"],
            "slots": {},
            "responses": {},
            "actions": [],
        },
        "tracker": {
            "sender_id": "test-user",
            "slots": {},
            "latest_message": {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or []},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


@pytest.fixture
def app(factory: sessionmaker[Session], small_kb: Path) -> Iterator[Any]:
    with session_scope(factory) as session:
        upsert_points(session, read_knowledge_file(small_kb))
        # Fixed thresholds make the three branches testable on a 5-point KB.
        save_calibration(session, "test", high=0.7, low=0.3, method={"kind": "test"})
    faq_action.set_service(FaqService(factory, background_reload=False))
    executor = ActionExecutor()
    executor.register_action(faq_action.ActionAnswerFaq)
    yield create_app(executor)
    faq_action.set_service(None)


async def post(app: Any, body: dict[str, Any]) -> dict[str, Any]:
    _, response = await app.asgi_client.post("/webhook", content=json.dumps(body))
    assert response.status == 200, response.text
    return response.json


async def test_confident_question_is_answered(app: Any) -> None:
    result = await post(app, tracker("银行卡丢了怎么挂失"))
    assert result["responses"][0]["text"] == "请尽快挂失银行卡。"
    assert {"event": "slot", "name": "faq_last_id", "value": "1", "timestamp": None} in result["events"]


async def test_unknown_question_offers_human(app: Any) -> None:
    result = await post(app, tracker("今天天气怎么样适合钓鱼吗"))
    reply = rendered(result)[0]
    assert reply["text"] == response_text("utter_faq_unsure")
    assert reply["buttons"] == [{"title": "转人工客服", "payload": "/request_human"}]


async def test_grey_zone_offers_choice_buttons(app: Any) -> None:
    # Up to three choices (those scoring at least the calibrated low, faq.service.choices), then a human.
    result = await post(app, tracker("转账利率"))
    reply = rendered(result)[0]
    assert reply["text"] == "您是想咨询下面哪个问题呢？请点选："
    payloads = [b["payload"] for b in reply["buttons"]]
    assert 2 <= len(payloads) <= 4 and payloads[-1] == "/request_human"
    assert all(p.startswith('/choose_faq{"faq_id": "') for p in payloads[:-1])


async def test_choose_faq_answers_that_point(app: Any) -> None:
    result = await post(app, tracker('/choose_faq{"faq_id":"3"}', "choose_faq", [{"entity": "faq_id", "value": "3"}]))
    assert result["responses"][0]["text"] == "请以挂牌利率为准。"


async def test_choose_unknown_point_offers_human(app: Any) -> None:
    result = await post(app, tracker("x", "choose_faq", [{"entity": "faq_id", "value": "999"}]))
    assert rendered(result)[0]["text"] == response_text("utter_faq_gone")
    assert rendered(result)[0]["buttons"][0]["payload"] == "/request_human"
