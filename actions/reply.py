"""One message of the bot, as a helper hands it back to the action that sends it.

Fixed wording lives in the Rasa domain's responses (``bot/domain/*.yml``) and is sent by name, with
the values for its blanks (``{name}`` in the response text); Rasa fills them in. Text whose shape
depends on the records (lists, amounts, dates) is built in ``actions/texts.py`` and sent as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

Button = dict[str, str]


@dataclass(frozen=True)
class Reply:
    """A domain response by name (``response`` + ``variables``), or computed ``text``.

    ``buttons`` are sent after the buttons the domain response declares (Rasa appends them).
    """

    response: str | None = None
    text: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    buttons: list[Button] = field(default_factory=list)

    @classmethod
    def of(cls, response: str, buttons: list[Button] | None = None, **variables: Any) -> Reply:
        return cls(response=response, variables=variables, buttons=buttons or [])

    @classmethod
    def computed(cls, text: str, buttons: list[Button] | None = None) -> Reply:
        return cls(text=text, buttons=buttons or [])

    def send(self, dispatcher: CollectingDispatcher) -> None:
        if self.response is not None:
            dispatcher.utter_message(response=self.response, buttons=self.buttons, **self.variables)
        else:
            dispatcher.utter_message(text=self.text, buttons=self.buttons)
